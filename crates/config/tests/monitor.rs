//! `monitor:` targets: environment substitution and located errors.

mod support;

use std::collections::BTreeMap;

use gantry_config::{TargetCheck, check_with_env};
use support::{BASE, expect_err, ok, pos_in};

fn with_monitor(monitor: &str) -> String {
    format!("{BASE}monitor:\n{monitor}")
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

#[test]
fn urls_and_timeouts_come_from_the_environment_with_defaults() {
    let yaml = with_monitor(
        "  interval: 10s\n  targets:\n    api: { http: \"${FASTAPI_URL:-http://127.0.0.1:8000}/health\", timeout: \"${HEALTH_CHECK_TIMEOUT:-5s}\", contains: ok }\n    db: { tcp: \"${DB_ADDR:-127.0.0.1:5432}\" }\n",
    );
    let config = ok(&yaml);
    let api = &config.monitor.as_ref().unwrap().targets["api"];
    let none = env(&[]);
    assert_eq!(
        api.check(&none).unwrap(),
        TargetCheck::Http("http://127.0.0.1:8000/health".into())
    );
    assert_eq!(api.timeout(&none).unwrap().as_millis(), 5000);
    let set = env(&[
        ("FASTAPI_URL", "http://127.0.0.1:9001"),
        ("HEALTH_CHECK_TIMEOUT", "10"),
    ]);
    assert_eq!(
        api.check(&set).unwrap(),
        TargetCheck::Http("http://127.0.0.1:9001/health".into())
    );
    // A bare number is seconds, as `curl --max-time $HEALTH_CHECK_TIMEOUT` reads it.
    assert_eq!(api.timeout(&set).unwrap().as_millis(), 10_000);
}

#[test]
fn an_unset_variable_without_default_is_located() {
    let yaml = with_monitor("  targets:\n    api: { http: \"${API_URL}/health\" }\n");
    let at = pos_in(&yaml, "http: \"${API", "\"${API");
    let e = expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::monitor_target",
        "monitor target 'api' `http`: environment variable API_URL is not set and has no default",
    );
    drop(e);
    // With the variable set, the same file checks.
    assert!(
        check_with_env(
            "gantry.yaml",
            &yaml,
            &env(&[("API_URL", "http://127.0.0.1:1")])
        )
        .is_ok()
    );
}

#[test]
fn a_bad_timeout_from_the_environment_names_both_texts() {
    let yaml = with_monitor(
        "  targets:\n    api: { http: \"http://127.0.0.1:1/\", timeout: \"${T:-5s}\" }\n",
    );
    let errors = check_with_env("gantry.yaml", &yaml, &env(&[("T", "soon")])).unwrap_err();
    let text = errors[0].to_string();
    assert!(
        text.contains("`timeout`: '${T:-5s}' expands to 'soon'"),
        "{text}"
    );
    let at = pos_in(&yaml, "timeout: \"${T", "\"${T");
    assert_eq!(
        (errors[0].line(), errors[0].column()),
        (Some(at.0), Some(at.1))
    );
}

#[test]
fn shapes_and_kind_specific_keys_are_checked() {
    // https is probed through the system's TLS (tests/monitor/check.rs in gantry).
    ok(&with_monitor(
        "  targets:\n    api: { http: \"https://example.com/\" }\n",
    ));
    let yaml = with_monitor("  targets:\n    api: { http: \"ftp://example.com/\" }\n");
    let at = pos_in(&yaml, "http: \"ftp", "\"ftp");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::monitor_target",
        "is not an http:// or https:// URL",
    );
    let yaml = with_monitor("  targets:\n    db: { tcp: \"localhost\" }\n");
    let at = pos_in(&yaml, "tcp: \"localhost", "\"localhost");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::monitor_target",
        "is not HOST:PORT",
    );
    let yaml = with_monitor("  targets:\n    db: { tcp: \"127.0.0.1:5432\", contains: x }\n");
    let at = pos_in(&yaml, "db: {", "{");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::monitor_target",
        "`contains` applies only to http checks",
    );
}

#[test]
fn cron_schedules_are_parsed_as_the_scheduler_runs_them() {
    for good in ["0 */6 * * *", "*/5 * * * * *", "@daily", "0 9 * * MON-FRI"] {
        ok(&with_monitor(&format!("  schedule: \"{good}\"\n")));
    }
    let yaml = with_monitor("  schedule: \"0 0 * * * * 2030\"\n");
    let at = pos_in(&yaml, "schedule: \"0 0", "\"0 0");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::cron",
        "invalid cron schedule",
    );
}
