//! Which ledger entries are worth a notification, and what they say. Everything the
//! control plane and `gantry run` decide is an entry, so one reader of the ledger sees
//! deployments, rollbacks, vetoes, pipeline runs and emergency stops from any process.

use gantry_config::NotifySeverity as Severity;
use gantry_ledger::Entry;
use serde_json::Value;

use super::group::{Alert, Event};

fn s<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

fn alert(key: String, severity: Severity, title: String, text: String) -> Alert {
    Alert {
        key,
        severity,
        title,
        text,
        fields: Vec::new(),
        once: false,
    }
}

/// The pipeline of run `run`, as its `pipeline.state.started` said; for a run the state
/// does not hold, read from an id of the older `<start time>-<pipeline>-<n>` form.
fn pipeline_of(run: &str, state: &gantry_state::State) -> String {
    if let Some(r) = state.runs.runs.get(run) {
        return r.pipeline.clone();
    }
    let parts: Vec<&str> = run.split('-').collect();
    if parts.len() >= 3 {
        parts[1..parts.len() - 1].join("-")
    } else {
        run.to_string()
    }
}

/// The measured figures an analysis recorded, as `name → value` with units.
fn figures(body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let num = |k: &str| body.get(k).and_then(Value::as_f64);
    if let Some(r) = num("error_rate") {
        out.push(("error rate".into(), format!("{:.1}%", r * 100.0)));
    }
    if let Some(p) = num("p99_ms") {
        out.push(("latency p99".into(), format!("{p:.0} ms")));
    }
    if let (Some(req), Some(err)) = (num("requests"), num("errors_5xx")) {
        out.push(("requests".into(), format!("{req:.0} ({err:.0} 5xx)")));
    }
    if let Some(p) = num("probe_failures") {
        out.push(("probe failures".into(), format!("{p:.0}")));
    }
    if let Some(w) = num("window_ms") {
        out.push(("window".into(), format!("{:.1} s", w / 1000.0)));
    }
    if let (Some(f), Some(l)) = (num("failing_windows"), num("failure_limit")) {
        out.push((
            "failing windows".into(),
            format!("{f:.0} of {l:.0} allowed"),
        ));
    }
    if let Some(on) = s(body, "on") {
        out.push(("measured on".into(), on.to_string()));
    }
    out
}

/// The event an admitted entry is, if it is one. `state` is the ledger's state with the
/// entry applied (it knows which pipeline a run id belongs to).
#[must_use]
pub fn from_entry(entry: &Entry, state: &gantry_state::State) -> Option<Event> {
    let b = &entry.body;
    let service = s(b, "service").unwrap_or("?");
    let reason = s(b, "reason").unwrap_or("no reason recorded").to_string();
    let ev = match entry.kind.as_str() {
        "status.changed" if entry.actor.role == gantry_ledger::SYSTEM_ROLE => {
            let to = s(b, "to")?;
            let reasons: Vec<&str> = b
                .get("reasons")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let severity = match to {
                "OPERATIONAL" => {
                    return Some(Event::Resolve {
                        key: "status".into(),
                        text: "status is OPERATIONAL again".into(),
                        hold: true,
                    });
                }
                "CRITICAL" => Severity::Error,
                _ => Severity::Warn,
            };
            let mut a = alert(
                "status".into(),
                severity,
                format!("status {to}"),
                reasons.join("\n"),
            );
            if let Some(t) = s(b, "trigger") {
                a.fields.push(("trigger".into(), t.to_string()));
            }
            Event::Fire(a)
        }
        "rollback.triggered" => {
            let mut a = alert(
                format!("deploy {service}"),
                Severity::Error,
                format!(
                    "{service}: automatic rollback from {} to {}",
                    s(b, "from").unwrap_or("?"),
                    s(b, "to").unwrap_or("?")
                ),
                format!("rule: {reason}"),
            );
            a.fields = figures(b);
            Event::Fire(a)
        }
        "rollback.planned" => Event::Fire(alert(
            format!("deploy {service}"),
            Severity::Warn,
            format!(
                "{service}: manual rollback from {} to {}",
                s(b, "from").unwrap_or("?"),
                s(b, "to").unwrap_or("?")
            ),
            reason,
        )),
        "deployment.state.failed" => {
            let mut a = alert(
                format!("deploy {service}"),
                Severity::Error,
                format!(
                    "{service}: deployment of {} failed",
                    s(b, "to").unwrap_or("?")
                ),
                reason,
            );
            a.fields = figures(b);
            Event::Fire(a)
        }
        "deployment.state.succeeded" => Event::Resolve {
            key: format!("deploy {service}"),
            text: format!("{service}: {} deployed", s(b, "to").unwrap_or("?")),
            hold: false,
        },
        "checkpoint.vetoed" => {
            let run = s(b, "run").unwrap_or("?");
            let stage = s(b, "stage").unwrap_or("?");
            let mut a = alert(
                format!("checkpoint {run} {stage}"),
                Severity::Warn,
                format!(
                    "checkpoint of stage {stage} vetoed by {}",
                    s(b, "role").unwrap_or(&entry.actor.role)
                ),
                s(b, "summary")
                    .or_else(|| s(b, "reason"))
                    .unwrap_or("no summary")
                    .to_string(),
            );
            a.once = true;
            a.fields.push(("run".into(), run.to_string()));
            Event::Fire(a)
        }
        "pipeline.state.failed" => {
            let run = s(b, "run").unwrap_or("?");
            let mut a = alert(
                format!("pipeline {}", pipeline_of(run, state)),
                Severity::Error,
                format!("pipeline {} failed", pipeline_of(run, state)),
                reason,
            );
            a.fields.push(("run".into(), run.to_string()));
            Event::Fire(a)
        }
        "pipeline.state.succeeded" => {
            let run = s(b, "run").unwrap_or("?");
            Event::Resolve {
                key: format!("pipeline {}", pipeline_of(run, state)),
                text: format!("run {run} succeeded"),
                hold: false,
            }
        }
        "control.emergency_stop" => {
            let services: Vec<&str> = b
                .get("services")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            Event::Fire(alert(
                "emergency".into(),
                Severity::Error,
                "emergency stop".into(),
                format!(
                    "every service answers 503 ({}); `gantry start` ends it",
                    services.join(", ")
                ),
            ))
        }
        "control.started" if b.get("after_emergency_stop") == Some(&Value::Bool(true)) => {
            Event::Resolve {
                key: "emergency".into(),
                text: "services started again (`gantry start`)".into(),
                hold: false,
            }
        }
        "alert.firing" if entry.actor.role == gantry_ledger::SYSTEM_ROLE => {
            let name = s(b, "name")?;
            let severity = match s(b, "severity") {
                Some("error") => Severity::Error,
                Some("info") => Severity::Info,
                _ => Severity::Warn,
            };
            let mut a = alert(
                format!("alert {name}"),
                severity,
                format!("alert {name} firing"),
                s(b, "detail").unwrap_or("").to_string(),
            );
            if let Some(c) = s(b, "condition") {
                a.fields.push(("condition".into(), c.to_string()));
            }
            if let Some(r) = s(b, "runbook") {
                a.fields.push(("runbook".into(), r.to_string()));
            }
            Event::Fire(a)
        }
        "alert.resolved" if entry.actor.role == gantry_ledger::SYSTEM_ROLE => Event::Resolve {
            key: format!("alert {}", s(b, "name")?),
            text: s(b, "detail").unwrap_or("resolved").to_string(),
            hold: false,
        },
        _ => return None,
    };
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: &str, role: &str, body: Value) -> Entry {
        serde_json::from_value(json!({
            "seq": 7, "ts": "2026-12-02T03:00:00Z", "kind": kind,
            "actor": {"id": "x", "role": role, "key": "k"}, "body": body,
            "prev": "", "hash": "", "sig": ""
        }))
        .unwrap()
    }

    #[test]
    fn an_automatic_rollback_carries_the_rule_and_the_figures() {
        let e = entry(
            "rollback.triggered",
            "gantry",
            json!({"service": "web", "from": "v3", "to": "v1", "reason": "analysis failed: error rate 48.0% > 5%",
                   "error_rate": 0.48, "p99_ms": 3.2, "requests": 50, "errors_5xx": 24, "window_ms": 1000}),
        );
        let Some(Event::Fire(a)) = from_entry(&e, &gantry_state::State::default()) else {
            panic!()
        };
        assert_eq!(a.key, "deploy web");
        assert_eq!(a.severity, Severity::Error);
        assert_eq!(a.title, "web: automatic rollback from v3 to v1");
        assert!(a.text.contains("error rate 48.0% > 5%"));
        assert_eq!(a.fields[0], ("error rate".into(), "48.0%".into()));
        assert_eq!(a.fields[2], ("requests".into(), "50 (24 5xx)".into()));
    }

    #[test]
    fn statuses_fire_and_resolve_and_others_are_ignored() {
        let down = entry(
            "status.changed",
            "gantry",
            json!({"from": "OPERATIONAL", "to": "CRITICAL", "reasons": ["service web: no ready instance"]}),
        );
        assert!(
            matches!(from_entry(&down, &gantry_state::State::default()), Some(Event::Fire(a)) if a.severity == Severity::Error && a.text.contains("no ready"))
        );
        let up = entry(
            "status.changed",
            "gantry",
            json!({"from": "CRITICAL", "to": "OPERATIONAL"}),
        );
        assert!(matches!(
            from_entry(&up, &gantry_state::State::default()),
            Some(Event::Resolve { hold: true, .. })
        ));
        // Only the system key says what the status is.
        assert!(
            from_entry(
                &entry("status.changed", "operator", json!({"to": "CRITICAL"})),
                &gantry_state::State::default()
            )
            .is_none()
        );
        assert!(
            from_entry(
                &entry("step.state.succeeded", "operator", json!({})),
                &gantry_state::State::default()
            )
            .is_none()
        );
        let failed = entry(
            "pipeline.state.failed",
            "operator",
            json!({"run": "20261202T030000Z-release-candidate-2", "reason": "step test exited 1"}),
        );
        assert!(
            matches!(from_entry(&failed, &gantry_state::State::default()), Some(Event::Fire(a)) if a.key == "pipeline release-candidate")
        );
    }
}
