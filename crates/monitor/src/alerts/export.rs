//! `alerts:` as a Prometheus alerting-rules file over the names gantry's `/metrics`
//! exports, so a Prometheus scraping gantry alerts on the same conditions.
//!
//! The router figures are gauges over the router's recent window (one minute), so an
//! `over` window becomes the rule's `for`: the condition must hold that long.

use gantry_config::{AlertCondition, Config};

/// A double-quoted YAML scalar (JSON string escaping is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A label value inside PromQL's double quotes.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn secs(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// (PromQL expression, `for`) of a condition.
#[must_use]
pub fn expression(c: &AlertCondition) -> (String, Option<String>) {
    match c {
        AlertCondition::TargetDown { target, for_ } => (
            format!("gantry_probe_success{{target=\"{}\"}} == 0", label(target)),
            (!for_.is_zero()).then(|| secs(for_.as_std())),
        ),
        AlertCondition::ServiceDown { service, for_ } => (
            format!(
                "gantry_instances_ready{{service=\"{}\"}} == 0",
                label(service)
            ),
            (!for_.is_zero()).then(|| secs(for_.as_std())),
        ),
        AlertCondition::ErrorRate {
            service,
            above,
            over,
        } => {
            let s = label(service);
            (
                format!(
                    "sum(gantry_router_window_errors_5xx{{service=\"{s}\"}}) / sum(gantry_router_window_requests{{service=\"{s}\"}}) > {}",
                    above.fraction()
                ),
                Some(secs(over.as_std())),
            )
        }
        AlertCondition::P99 {
            service,
            above,
            over,
        } => (
            format!(
                "max(gantry_router_window_latency_p99_seconds{{service=\"{}\"}}) > {}",
                label(service),
                above.as_std().as_secs_f64()
            ),
            Some(secs(over.as_std())),
        ),
        AlertCondition::Rollback { service } => (
            format!(
                "gantry_deployment_phase{{service=\"{}\",phase=\"rolled_back\"}} == 1",
                label(service)
            ),
            None,
        ),
        AlertCondition::NotificationsFailing => (
            "increase(gantry_notifications_total{outcome=\"failed\"}[5m]) > 0".into(),
            None,
        ),
    }
}

/// The rules file: one group named for the project.
#[must_use]
pub fn prometheus_rules(config: &Config) -> String {
    let mut out = format!(
        "# Alerting rules for gantry project {}, written by `gantry alerts export` from gantry.yaml's\n# `alerts:`, over the metrics `gantry serve` exports at /metrics.\ngroups:\n  - name: {}\n    rules:\n",
        config.project,
        q(&format!("gantry-{}", config.project))
    );
    if config.alerts.is_empty() {
        out = out.replace("    rules:\n", "    rules: []\n");
    }
    for rule in &config.alerts {
        let Ok(condition) = rule.when.condition() else {
            continue;
        };
        let (expr, for_) = expression(&condition);
        out.push_str(&format!("      - alert: {}\n", q(&rule.name)));
        out.push_str(&format!("        expr: {}\n", q(&expr)));
        if let Some(f) = for_ {
            out.push_str(&format!("        for: {f}\n"));
        }
        out.push_str("        labels:\n");
        out.push_str(&format!("          severity: {}\n", rule.severity.as_str()));
        out.push_str(&format!("          project: {}\n", q(&config.project)));
        out.push_str("        annotations:\n");
        out.push_str(&format!(
            "          summary: {}\n",
            q(&format!("gantry alert {} is firing", rule.name))
        ));
        if let Some(r) = &rule.runbook {
            out.push_str(&format!("          runbook_url: {}\n", q(r)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_become_promql_over_gantrys_metric_names() {
        let yaml = "project: p\nservices:\n  web:\n    listen: 127.0.0.1:1\n    releases: { v1: { run: x } }\nmonitor:\n  targets:\n    api: { tcp: \"127.0.0.1:1\" }\nalerts:\n  - { name: api-down, when: { target: api, down_for: 30s }, severity: error, runbook: \"https://wiki/a\" }\n  - { name: slow, when: { service: web, p99_above: 300ms, over: 1m } }\n";
        let c = gantry_config::parse("gantry.yaml", yaml).unwrap();
        let text = prometheus_rules(&c);
        assert!(
            text.contains(
                "expr: \"gantry_probe_success{target=\\\"api\\\"} == 0\"\n        for: 30s"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "max(gantry_router_window_latency_p99_seconds{service=\\\"web\\\"}) > 0.3"
            ),
            "{text}"
        );
        assert!(text.contains("runbook_url: \"https://wiki/a\""), "{text}");
        assert!(text.contains("severity: error"), "{text}");
    }
}
