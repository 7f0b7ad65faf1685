//! `notify:` channels: what is accepted, and located errors for what would not work.

mod support;

use gantry_config::{NotifySeverity, channel_names};
use support::{BASE, expect_err, ok, pos_in};

#[test]
fn channels_with_severities_and_grouping_are_accepted() {
    let yaml = format!(
        "{BASE}notify:\n  - slack: {{ webhook_env: SLACK_WEBHOOK_URL, min_severity: warn, group_wait: 5s }}\n  - discord: {{ webhook_env: DISCORD_URL }}\n  - webhook: {{ url: \"http://127.0.0.1:9/hook\", headers: {{ X-Team: sre }}, repeat_interval: 1h }}\n  - webhook: {{ url_env: HOOK, min_severity: error }}\n"
    );
    let config = ok(&yaml);
    assert_eq!(
        channel_names(&config.notify),
        ["slack", "discord", "webhook", "webhook-2"]
    );
    let s = config.notify[0].settings();
    assert_eq!(s.min_severity, NotifySeverity::Warn);
    assert_eq!(s.grouping.group_wait.unwrap().as_millis(), 5000);
    assert_eq!(
        config.notify[1].settings().min_severity,
        NotifySeverity::Info
    );
}

#[test]
fn bad_channels_are_located() {
    let yaml = format!(
        "{BASE}notify:\n  - slack: {{ webhook_env: SLACK_WEBHOOK_URL, min_severity: loud }}\n"
    );
    let at = pos_in(&yaml, "loud", "loud");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::unknown_variant",
        "expected one of info, warn, error",
    );
    let yaml = format!("{BASE}notify:\n  - webhook: {{ url: \"ftp://x\" }}\n");
    let at = pos_in(&yaml, "{ url", "{");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::webhook_url",
        "not an http:// or https:// URL",
    );
    let yaml = format!("{BASE}notify:\n  - discord: {{ webhook_env: \"not a var\" }}\n");
    let at = pos_in(&yaml, "  - discord", "discord");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::notify_env",
        "is not an environment variable name",
    );
    let yaml = format!("{BASE}notify:\n  - slack: {{ webhook_env: A, group_interval: 0s }}\n");
    let at = pos_in(&yaml, "0s", "0s");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::notify_timing",
        "`group_interval` must be longer than 0s",
    );
    let yaml = format!(
        "{BASE}notify:\n  - slack: {{ webhook_env: A, name: ops }}\n  - discord: {{ webhook_env: B, name: ops }}\n"
    );
    let at = pos_in(&yaml, "  - discord", "discord");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::notify_name",
        "two notification channels are named 'ops'",
    );
}

#[test]
fn alert_rules_are_typed_and_their_subjects_must_exist() {
    use gantry_config::AlertCondition;
    let yaml = format!(
        "{BASE}monitor:\n  targets:\n    api: {{ http: \"http://127.0.0.1:9/health\" }}\nnotify:\n  - slack: {{ webhook_env: S }}\nalerts:\n  - {{ name: api-down, when: {{ target: api, down_for: 30s }}, severity: error, runbook: \"https://wiki/api\" }}\n  - {{ name: web-errors, when: {{ service: web, error_rate_above: 5%, over: 1m }} }}\n  - {{ name: web-slow, when: {{ service: web, p99_above: 300ms, over: 1m }} }}\n  - {{ name: web-rb, when: {{ rollback: web }} }}\n  - {{ name: channels, when: {{ notifications_failing: true }} }}\n"
    );
    let config = ok(&yaml);
    let c: Vec<AlertCondition> = config
        .alerts
        .iter()
        .map(|a| a.when.condition().unwrap())
        .collect();
    assert!(
        matches!(&c[0], AlertCondition::TargetDown { target, for_ } if target == "api" && for_.as_millis() == 30_000)
    );
    assert!(matches!(&c[1], AlertCondition::ErrorRate { above, .. } if above.value() == 5.0));
    assert!(matches!(&c[4], AlertCondition::NotificationsFailing));
    assert_eq!(config.alerts[1].severity, NotifySeverity::Warn);

    let yaml = format!(
        "{BASE}alerts:\n  - {{ name: x, when: {{ service: web, error_rate_above: 5% }} }}\n"
    );
    let at = pos_in(&yaml, "when: {", "{");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::alert",
        "need a window `over`",
    );
    let yaml =
        format!("{BASE}alerts:\n  - {{ name: x, when: {{ target: nope, down_for: 1s }} }}\n");
    let at = pos_in(&yaml, "when: {", "{");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::alert",
        "no monitor target 'nope'",
    );
    let yaml =
        format!("{BASE}alerts:\n  - {{ name: x, when: {{ rollback: web, service: web }} }}\n");
    let at = pos_in(&yaml, "when: {", "{");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::alert",
        "exactly one of target, service",
    );
    let yaml =
        format!("{BASE}alerts:\n  - {{ name: x, when: {{ rollback: web }}, severity: page }}\n");
    let at = pos_in(&yaml, "page", "page");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::unknown_variant",
        "expected one of info, warn, error",
    );
}

/// `gantry init`'s example shows notify and alerts commented; uncommented, they work.
#[test]
fn the_examples_commented_channels_and_alerts_are_valid() {
    let text: String = gantry_config::EXAMPLE
        .lines()
        .map(|l| {
            l.strip_prefix("#  - ")
                .map_or(l.to_string(), |rest| format!("  - {rest}"))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = ok(&text);
    assert_eq!(config.notify.len(), 3);
    assert_eq!(config.alerts.len(), 5);
    assert_eq!(config.alerts[0].severity, NotifySeverity::Error);
}
