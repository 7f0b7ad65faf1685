//! Checks of `monitor:`, `notify:` and `alerts:`.

use std::collections::BTreeMap;

use super::Problems;
use crate::{AlertCondition, Config, Notifier, parse_cron};

pub(super) fn check_monitor(config: &Config, env: &BTreeMap<String, String>, p: &mut Problems<'_>) {
    let Some(monitor) = &config.monitor else {
        return;
    };
    if let (Some(schedule), Some(_)) = (&monitor.schedule, &monitor.interval) {
        p.add(
            schedule.pos,
            "gantry::config::monitor_schedule",
            "schedule and interval",
            "monitor has both `schedule` and `interval`; choose one".to_string(),
        );
    }
    if let Some(schedule) = &monitor.schedule
        && let Err(why) = check_cron(schedule).and_then(|()| parse_cron(schedule).map(|_| ()))
    {
        p.add(
            schedule.pos,
            "gantry::config::cron",
            "invalid schedule",
            format!("invalid cron schedule '{}': {why}", schedule.escape_debug()),
        );
    }
    if let Some(interval) = &monitor.interval
        && interval.is_zero()
    {
        p.add(
            interval.pos,
            "gantry::config::monitor_schedule",
            "zero",
            "monitor `interval` must be longer than 0s".to_string(),
        );
    }
    for (name, target) in &monitor.targets {
        let count = [&target.http, &target.tcp, &target.exec]
            .iter()
            .filter(|c| c.is_some())
            .count();
        if count != 1 {
            p.add(
                target.pos,
                "gantry::config::monitor_target",
                "one of http, tcp, exec",
                format!(
                    "monitor target '{name}' has {}; give exactly one of http, tcp or exec",
                    if count == 0 {
                        "no check"
                    } else {
                        "several checks"
                    }
                ),
            );
            continue;
        }
        if let Err(e) = target.check(env) {
            p.add(
                e.pos,
                "gantry::config::monitor_target",
                e.field,
                format!("monitor target '{name}' `{}`: {}", e.field, e.message),
            );
        }
        if let Err(e) = target.timeout(env) {
            p.add(
                e.pos,
                "gantry::config::monitor_target",
                e.field,
                format!("monitor target '{name}' `timeout`: {}", e.message),
            );
        }
        // Keys that only mean something for one kind of check would otherwise do nothing.
        if target.contains.is_some() && target.http.is_none() {
            p.add(
                target.pos,
                "gantry::config::monitor_target",
                "contains without http",
                format!("monitor target '{name}': `contains` applies only to http checks"),
            );
        }
        if target.expect.is_some() && target.tcp.is_some() {
            p.add(
                target.pos,
                "gantry::config::monitor_target",
                "expect with tcp",
                format!(
                    "monitor target '{name}': `expect` applies to http status codes and exec exit codes, not tcp"
                ),
            );
        }
    }
}

pub(super) fn check_notify(config: &Config, p: &mut Problems<'_>) {
    let names = crate::channel_names(&config.notify);
    for (i, (notifier, name)) in config.notify.iter().zip(&names).enumerate() {
        if names[..i].contains(name) {
            p.add(
                notifier.pos,
                "gantry::config::notify_name",
                "duplicate name",
                format!("two notification channels are named '{name}'; give each its own `name`"),
            );
        }
        let env_name = match &notifier.value {
            Notifier::Slack(s) | Notifier::Discord(s) => Some(s.webhook_env.as_str()),
            Notifier::Webhook(hook) => {
                if hook.url.is_some() == hook.url_env.is_some() {
                    p.add(
                        hook.pos,
                        "gantry::config::webhook_url",
                        "url or url_env",
                        "webhook needs exactly one of `url` or `url_env`".to_string(),
                    );
                }
                if let Some(url) = &hook.url
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    p.add(
                        hook.pos,
                        "gantry::config::webhook_url",
                        "not an http(s) URL",
                        format!(
                            "webhook `url` '{}' is not an http:// or https:// URL",
                            url.escape_debug()
                        ),
                    );
                }
                hook.url_env.as_deref()
            }
        };
        if let Some(var) = env_name
            && (var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            p.add(
                notifier.pos,
                "gantry::config::notify_env",
                "not a variable name",
                format!(
                    "notification channel '{name}': '{}' is not an environment variable name",
                    var.escape_debug()
                ),
            );
        }
        let g = notifier.settings().grouping;
        for (key, value) in [
            ("group_wait", &g.group_wait),
            ("group_interval", &g.group_interval),
            ("repeat_interval", &g.repeat_interval),
        ] {
            if let Some(d) = value
                && d.is_zero()
                && key != "group_wait"
            {
                p.add(
                    d.pos,
                    "gantry::config::notify_timing",
                    "zero",
                    format!("notification channel '{name}' `{key}` must be longer than 0s"),
                );
            }
        }
    }
}

pub(super) fn check_alerts(config: &Config, p: &mut Problems<'_>) {
    let mut seen: Vec<&str> = Vec::new();
    for rule in &config.alerts {
        let name = rule.name.as_str();
        let bad_name = name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if bad_name {
            p.add(
                rule.pos,
                "gantry::config::alert",
                "bad name",
                format!(
                    "alert name '{}' must be letters, digits, '-', '_' or '.' (it becomes a Prometheus alert name)",
                    name.escape_debug()
                ),
            );
        } else if seen.contains(&name) {
            p.add(
                rule.pos,
                "gantry::config::alert",
                "duplicate",
                format!("two alerts are named '{name}'"),
            );
        }
        seen.push(name);
        let condition = match rule.when.condition() {
            Ok(c) => c,
            Err(why) => {
                p.add(
                    rule.when.pos,
                    "gantry::config::alert",
                    "condition",
                    format!("alert '{name}' `when`: {why}"),
                );
                continue;
            }
        };
        let unknown = match &condition {
            AlertCondition::TargetDown { target, .. } => (!config
                .monitor
                .as_ref()
                .is_some_and(|m| m.targets.contains_key(target)))
            .then(|| format!("no monitor target '{target}' (monitor.targets)")),
            AlertCondition::ServiceDown { service, .. }
            | AlertCondition::ErrorRate { service, .. }
            | AlertCondition::P99 { service, .. }
            | AlertCondition::Rollback { service } => {
                (!config.services.contains_key(service)).then(|| format!("no service '{service}'"))
            }
            AlertCondition::NotificationsFailing => config
                .notify
                .is_empty()
                .then(|| "no `notify` channel could fail".to_string()),
        };
        if let Some(why) = unknown {
            p.add(
                rule.when.pos,
                "gantry::config::alert",
                "unknown subject",
                format!("alert '{name}' `when`: {why}"),
            );
        }
        if let Some(url) = &rule.runbook
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            p.add(
                rule.pos,
                "gantry::config::alert",
                "runbook",
                format!("alert '{name}' `runbook` must be an http(s) link"),
            );
        }
    }
}

/// Light cron check: 5 fields (minute hour day month weekday) or 6 (seconds first), or a
/// macro such as `@daily`; numbers within each field's range.
fn check_cron(expr: &str) -> Result<(), String> {
    const MACROS: [&str; 6] = [
        "@yearly",
        "@annually",
        "@monthly",
        "@weekly",
        "@daily",
        "@hourly",
    ];
    let expr = expr.trim();
    if expr.starts_with('@') {
        return if MACROS.contains(&expr) {
            Ok(())
        } else {
            Err(format!(
                "unknown macro; expected one of {}",
                MACROS.join(", ")
            ))
        };
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    const FIVE: [(&str, u32, u32); 5] = [
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day of month", 1, 31),
        ("month", 1, 12),
        ("day of week", 0, 7),
    ];
    let ranges: Vec<(&str, u32, u32)> = match fields.len() {
        5 => FIVE.to_vec(),
        6 => std::iter::once(("second", 0, 59)).chain(FIVE).collect(),
        n => {
            return Err(format!(
                "expected 5 fields (minute hour day month weekday) or 6 with seconds, found {n}"
            ));
        }
    };
    for (field, (what, min, max)) in fields.iter().zip(ranges) {
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, Some(s)),
                None => (part, None),
            };
            if let Some(step) = step
                && step.parse::<u32>().map_or(true, |s| s == 0)
            {
                return Err(format!("bad step '{step}' in {what} field"));
            }
            if range == "*" || range == "?" {
                continue;
            }
            for bound in range.split('-') {
                if bound.chars().all(|c| c.is_ascii_alphabetic()) && bound.len() == 3 {
                    continue; // JAN, MON, ...
                }
                let n: u32 = bound
                    .trim_end_matches(['L', 'W'])
                    .split('#')
                    .next()
                    .unwrap_or("")
                    .parse()
                    .map_err(|_| {
                        format!(
                            "'{}' is not valid in the {what} field",
                            bound.escape_debug()
                        )
                    })?;
                if n < min || n > max {
                    return Err(format!(
                        "{n} is out of range {min}-{max} for the {what} field"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_cron;

    #[test]
    fn cron() {
        for ok in [
            "0 */6 * * *",
            "*/5 * * * * *",
            "0 9 * * MON-FRI",
            "@daily",
            "0 0 1,15 * *",
        ] {
            assert_eq!(check_cron(ok), Ok(()), "{ok}");
        }
        for bad in [
            "* * *",
            "61 * * * *",
            "0 */0 * * *",
            "@sometimes",
            "a b c d e",
        ] {
            assert!(check_cron(bad).is_err(), "{bad}");
        }
    }
}
