//! Alert rules (`alerts:`) over gantry's own signals: what each condition observes now
//! ([`observe`]), and the pure evaluator that turns observations into firing and resolved
//! transitions, holding a `down_for` as Prometheus holds `for` ([`Evaluator`]).
//! [`export`] writes the same rules as a Prometheus alerting-rules file.

pub mod export;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gantry_config::{AlertCondition, AlertRule, Config, NotifySeverity};

use crate::report::{AlertState, Live, Sample};

/// Whether a rule's condition holds now, and what was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub active: bool,
    pub detail: String,
}

/// A firing alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Firing {
    pub name: String,
    pub severity: NotifySeverity,
    /// When it fired.
    pub since: DateTime<Utc>,
    pub detail: String,
    pub runbook: Option<String>,
}

/// A change of a rule's state.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    Fired(Firing),
    Resolved { firing: Firing, detail: String },
}

/// Router figures of a service over a window: (requests, 5xx answers, worst p99 in ms of
/// versions that had requests).
pub type Figures = (u64, u64, Option<f64>);

/// What conditions look at.
pub struct Signals<'a> {
    /// Latest sample per target key ([`crate::Target::key`]).
    pub samples: &'a BTreeMap<String, Sample>,
    pub live: &'a BTreeMap<String, Live>,
    pub state: &'a gantry_state::State,
    /// A service's figures over a window.
    pub figures: &'a (dyn Fn(&str, std::time::Duration) -> Figures + Sync),
    pub channel_failures: &'a [String],
}

/// What `condition` observes in `s`.
#[must_use]
pub fn observe(condition: &AlertCondition, s: &Signals<'_>) -> Observation {
    let obs = |active: bool, detail: String| Observation { active, detail };
    match condition {
        AlertCondition::TargetDown { target, .. } => match s.samples.get(target) {
            Some(sample) if !sample.result.ok => obs(
                true,
                format!(
                    "target {target} is down: {}",
                    sample.result.reason.as_deref().unwrap_or("probe failed")
                ),
            ),
            Some(_) => obs(false, format!("target {target} is up")),
            None => obs(false, format!("target {target} not probed yet")),
        },
        AlertCondition::ServiceDown { service, .. } => {
            let deployed = s
                .state
                .services
                .services
                .get(service)
                .is_some_and(|v| v.stable.is_some());
            let ready = s.live.get(service).map_or(0, |l| l.ready);
            if deployed && ready == 0 {
                obs(true, format!("service {service} has no ready instance"))
            } else {
                obs(false, format!("service {service}: {ready} ready"))
            }
        }
        AlertCondition::ErrorRate {
            service,
            above,
            over,
        } => {
            let (requests, errors, _) = (s.figures)(service, over.as_std());
            if requests == 0 {
                return obs(false, format!("service {service}: no requests over {over}"));
            }
            let rate = errors as f64 / requests as f64;
            obs(
                rate > above.fraction(),
                format!(
                    "service {service} error rate {:.1}% over {over} ({errors} of {requests} requests 5xx; threshold {above})",
                    rate * 100.0
                ),
            )
        }
        AlertCondition::P99 {
            service,
            above,
            over,
        } => match (s.figures)(service, over.as_std()) {
            (_, _, Some(p99)) => obs(
                p99 > above.as_millis() as f64,
                format!("service {service} p99 {p99:.0} ms over {over} (threshold {above})"),
            ),
            _ => obs(false, format!("service {service}: no requests over {over}")),
        },
        AlertCondition::Rollback { service } => {
            let d = s
                .state
                .services
                .services
                .get(service)
                .and_then(|v| v.deployment.as_ref());
            match d {
                Some(d) if d.phase == "rolled_back" => obs(
                    true,
                    format!("service {service}: its latest deployment was rolled back"),
                ),
                _ => obs(false, format!("service {service}: not rolled back")),
            }
        }
        AlertCondition::NotificationsFailing => {
            if s.channel_failures.is_empty() {
                obs(false, "every notification channel delivers".into())
            } else {
                obs(true, s.channel_failures.join("; "))
            }
        }
    }
}

struct Rule {
    name: String,
    condition: AlertCondition,
    severity: NotifySeverity,
    runbook: Option<String>,
    hold: std::time::Duration,
}

/// The alert rules' state: pending (condition holds, `down_for` not yet reached) and
/// firing, with the clock passed in.
pub struct Evaluator {
    rules: Vec<Rule>,
    pending: BTreeMap<String, DateTime<Utc>>,
    firing: BTreeMap<String, Firing>,
    /// What each rule's last observation saw; empty until the first step.
    seen: BTreeMap<String, String>,
}

impl Evaluator {
    /// The rules of `config` whose conditions are well formed (`gantry check` refuses the
    /// rest).
    #[must_use]
    pub fn new(config: &Config) -> Evaluator {
        let rules = config
            .alerts
            .iter()
            .filter_map(|r: &gantry_config::Spanned<AlertRule>| {
                let condition = r.when.condition().ok()?;
                let hold = match &condition {
                    AlertCondition::TargetDown { for_, .. }
                    | AlertCondition::ServiceDown { for_, .. } => for_.as_std(),
                    _ => std::time::Duration::ZERO,
                };
                Some(Rule {
                    name: r.name.clone(),
                    condition,
                    severity: r.severity,
                    runbook: r.runbook.clone(),
                    hold,
                })
            })
            .collect();
        Evaluator {
            rules,
            pending: BTreeMap::new(),
            firing: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules' names and conditions.
    pub fn conditions(&self) -> impl Iterator<Item = (&str, &AlertCondition)> {
        self.rules.iter().map(|r| (r.name.as_str(), &r.condition))
    }

    /// Marks `name` as firing since `since` without a transition (what the ledger says
    /// after a restart), so it neither fires twice nor is forgotten.
    pub fn restore(&mut self, name: &str, since: DateTime<Utc>, detail: String) {
        if let Some(r) = self.rules.iter().find(|r| r.name == name) {
            self.firing.insert(
                name.to_string(),
                Firing {
                    name: name.to_string(),
                    severity: r.severity,
                    since,
                    detail,
                    runbook: r.runbook.clone(),
                },
            );
        }
    }

    /// Takes this round's observation per rule name and returns what changed.
    pub fn step(
        &mut self,
        observed: &BTreeMap<String, Observation>,
        now: DateTime<Utc>,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        for r in &self.rules {
            let Some(o) = observed.get(&r.name) else {
                continue;
            };
            self.seen.insert(r.name.clone(), o.detail.clone());
            if o.active {
                if let Some(f) = self.firing.get_mut(&r.name) {
                    f.detail = o.detail.clone();
                    continue;
                }
                let since = *self.pending.entry(r.name.clone()).or_insert(now);
                let held = (now - since).to_std().unwrap_or_default();
                if held >= r.hold {
                    self.pending.remove(&r.name);
                    let f = Firing {
                        name: r.name.clone(),
                        severity: r.severity,
                        since: now,
                        detail: o.detail.clone(),
                        runbook: r.runbook.clone(),
                    };
                    self.firing.insert(r.name.clone(), f.clone());
                    out.push(Transition::Fired(f));
                }
            } else {
                self.pending.remove(&r.name);
                if let Some(firing) = self.firing.remove(&r.name) {
                    out.push(Transition::Resolved {
                        firing,
                        detail: o.detail.clone(),
                    });
                }
            }
        }
        out
    }

    /// The alerts firing now, by name.
    #[must_use]
    pub fn firing(&self) -> Vec<Firing> {
        self.firing.values().cloned().collect()
    }

    /// Every rule in config order, firing or not, for the status report. A rule never
    /// observed is `not evaluated` (only `gantry serve` evaluates alerts).
    #[must_use]
    pub fn states(&self) -> Vec<AlertState> {
        let ts = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.rules
            .iter()
            .map(|r| {
                let (state, since) = if let Some(f) = self.firing.get(&r.name) {
                    ("firing", Some(ts(&f.since)))
                } else if let Some(p) = self.pending.get(&r.name) {
                    ("pending", Some(ts(p)))
                } else if self.seen.contains_key(&r.name) {
                    ("ok", None)
                } else {
                    ("not evaluated", None)
                };
                AlertState {
                    name: r.name.clone(),
                    severity: r.severity.as_str().into(),
                    state: state.into(),
                    since,
                    condition: export::expression(&r.condition).0,
                    detail: self
                        .firing
                        .get(&r.name)
                        .map(|f| f.detail.clone())
                        .or_else(|| self.seen.get(&r.name).cloned()),
                    runbook: r.runbook.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(alerts: &str) -> Config {
        let yaml = format!(
            "project: p\nservices:\n  web:\n    listen: 127.0.0.1:1\n    releases: {{ v1: {{ run: x }} }}\nmonitor:\n  targets:\n    api: {{ tcp: \"127.0.0.1:1\" }}\nalerts:\n{alerts}"
        );
        gantry_config::parse("gantry.yaml", &yaml).unwrap()
    }

    fn seen(name: &str, active: bool) -> BTreeMap<String, Observation> {
        BTreeMap::from([(
            name.to_string(),
            Observation {
                active,
                detail: if active { "down" } else { "up" }.into(),
            },
        )])
    }

    #[test]
    fn down_for_holds_before_firing_and_a_blip_resets_it() {
        let mut e = Evaluator::new(&config(
            "  - { name: api-down, when: { target: api, down_for: 30s }, severity: error }\n",
        ));
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        assert!(e.step(&seen("api-down", true), at(0)).is_empty());
        assert!(e.step(&seen("api-down", true), at(20)).is_empty());
        // Up for one round: the hold starts again.
        assert!(e.step(&seen("api-down", false), at(25)).is_empty());
        assert!(e.step(&seen("api-down", true), at(30)).is_empty());
        assert!(e.step(&seen("api-down", true), at(50)).is_empty());
        let fired = e.step(&seen("api-down", true), at(60));
        assert!(
            matches!(&fired[..], [Transition::Fired(f)] if f.severity == NotifySeverity::Error)
        );
        assert!(e.step(&seen("api-down", true), at(70)).is_empty());
        assert_eq!(e.firing().len(), 1);
        let resolved = e.step(&seen("api-down", false), at(80));
        assert!(matches!(&resolved[..], [Transition::Resolved { detail, .. }] if detail == "up"));
        assert!(e.firing().is_empty());
    }

    #[test]
    fn states_list_every_rule_with_its_state_and_since() {
        let mut e = Evaluator::new(&config(
            "  - { name: api-down, when: { target: api, down_for: 30s }, severity: error, runbook: \"https://wiki/api\" }\n  - { name: rb, when: { rollback: web } }\n",
        ));
        let names = |e: &Evaluator| -> Vec<(String, String)> {
            e.states().into_iter().map(|s| (s.name, s.state)).collect()
        };
        assert_eq!(
            names(&e),
            [
                ("api-down".into(), "not evaluated".into()),
                ("rb".into(), "not evaluated".into())
            ]
        );
        let t0 = Utc::now();
        let mut both = seen("api-down", true);
        both.extend(seen("rb", false));
        e.step(&both, t0);
        let s = e.states();
        assert_eq!(
            (s[0].state.as_str(), s[1].state.as_str()),
            ("pending", "ok")
        );
        assert_eq!(s[0].condition, "gantry_probe_success{target=\"api\"} == 0");
        assert_eq!(s[0].runbook.as_deref(), Some("https://wiki/api"));
        e.step(&both, t0 + chrono::Duration::seconds(31));
        let s = e.states();
        assert_eq!(s[0].state, "firing");
        assert_eq!(
            s[0].since.as_deref(),
            Some(
                (t0 + chrono::Duration::seconds(31))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    .as_str()
            )
        );
        assert_eq!(s[0].severity, "error");
    }

    #[test]
    fn a_restored_alert_does_not_fire_twice() {
        let mut e = Evaluator::new(&config("  - { name: rb, when: { rollback: web } }\n"));
        e.restore("rb", Utc::now(), "rolled back".into());
        assert!(e.step(&seen("rb", true), Utc::now()).is_empty());
        assert_eq!(e.step(&seen("rb", false), Utc::now()).len(), 1);
    }

    #[test]
    fn error_rate_needs_requests_and_compares_the_share() {
        let c = config("  - { name: e, when: { service: web, error_rate_above: 5%, over: 1m } }\n");
        let cond = c.alerts[0].when.condition().unwrap();
        let state = gantry_state::State::default();
        let (samples, live) = (BTreeMap::new(), BTreeMap::new());
        for (figures, active) in [
            ((0, 0, None), false),
            ((100, 5, Some(1.0)), false),
            ((100, 6, Some(1.0)), true),
        ] {
            let f = move |_: &str, w: std::time::Duration| {
                assert_eq!(w.as_secs(), 60);
                figures
            };
            let s = Signals {
                samples: &samples,
                live: &live,
                state: &state,
                figures: &f,
                channel_failures: &[],
            };
            assert_eq!(observe(&cond, &s).active, active, "{figures:?}");
        }
    }
}
