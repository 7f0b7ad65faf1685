//! Alert rules inside `gantry serve`: evaluated every check round over the round's samples,
//! the live view and the router's figures; each transition an `alert.firing` /
//! `alert.resolved` entry (the notification channels take it from the ledger like every
//! other event); firing alerts are reasons in the status report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gantry_config::NotifySeverity;
use gantry_ledger::Entry;
use gantry_monitor::alerts::{Evaluator, Firing, Observation, Signals, Transition, observe};
use gantry_monitor::{Level, Reason};
use serde_json::json;

use crate::app::{App, By};

pub(crate) struct Alerting {
    eval: Evaluator,
}

impl Alerting {
    /// The rules of the config, with those the ledger says are firing restored.
    pub(crate) fn new(config: &gantry_config::Config, history: &[Entry]) -> Alerting {
        let mut eval = Evaluator::new(config);
        let mut firing: BTreeMap<String, (DateTime<Utc>, String)> = BTreeMap::new();
        for e in history {
            let Some(name) = e.body.get("name").and_then(|v| v.as_str()) else {
                continue;
            };
            match e.kind.as_str() {
                "alert.firing" => {
                    let since = DateTime::parse_from_rfc3339(&e.ts)
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or_else(|_| Utc::now());
                    let detail = e.body.get("detail").and_then(|v| v.as_str()).unwrap_or("");
                    firing.insert(name.to_string(), (since, detail.to_string()));
                }
                "alert.resolved" => {
                    firing.remove(name);
                }
                _ => {}
            }
        }
        for (name, (since, detail)) in firing {
            eval.restore(&name, since, detail);
        }
        Alerting { eval }
    }

    /// Evaluates every rule and records what changed.
    pub(crate) async fn step(&mut self, app: &App, signals: &Signals<'_>) {
        if self.eval.is_empty() {
            return;
        }
        let observed: BTreeMap<String, Observation> = self
            .eval
            .conditions()
            .map(|(name, c)| (name.to_string(), observe(c, signals)))
            .collect();
        let conditions: BTreeMap<String, String> = self
            .eval
            .conditions()
            .map(|(name, c)| {
                (
                    name.to_string(),
                    gantry_monitor::alerts::export::expression(c).0,
                )
            })
            .collect();
        for t in self.eval.step(&observed, Utc::now()) {
            let (kind, body) = match &t {
                Transition::Fired(f) => (
                    "alert.firing",
                    json!({"name": f.name, "severity": f.severity.as_str(), "detail": f.detail,
                           "runbook": f.runbook, "condition": conditions.get(&f.name)}),
                ),
                Transition::Resolved { firing, detail } => (
                    "alert.resolved",
                    json!({"name": firing.name, "detail": detail,
                           "firing_for_ms": (Utc::now() - firing.since).num_milliseconds().max(0)}),
                ),
            };
            if app.core.record(By::System, kind, body).await.is_none() {
                tracing::warn!(kind, "cannot record an alert transition");
            }
        }
    }

    /// Every rule's state, for the report's alerts section.
    pub(crate) fn states(&self) -> Vec<gantry_monitor::report::AlertState> {
        self.eval.states()
    }

    /// The firing alerts as report reasons: an error alert makes the status CRITICAL, a
    /// warning DEGRADED, an info one is listed without changing it.
    pub(crate) fn reasons(&self) -> Vec<Reason> {
        self.eval.firing().iter().map(reason).collect()
    }
}

fn reason(f: &Firing) -> Reason {
    let level = match f.severity {
        NotifySeverity::Error => Level::Critical,
        NotifySeverity::Warn => Level::Degraded,
        NotifySeverity::Info => Level::Operational,
    };
    let runbook = f
        .runbook
        .as_ref()
        .map(|r| format!(" (runbook: {r})"))
        .unwrap_or_default();
    Reason::new(
        level,
        format!("alert {}", f.name),
        format!(
            "firing since {}: {}{runbook}",
            f.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            f.detail
        ),
    )
}
