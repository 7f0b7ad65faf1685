//! The status report as data: built from the ledger's state, the probe results and (under
//! `gantry serve`) the live view of instances and router figures. [`crate::render`] turns
//! it into Markdown; its JSON form is `serde_json` of [`Report`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gantry_config::Config;
use gantry_state::State;
use serde::{Deserialize, Serialize};

use crate::probe::ProbeResult;
use crate::status::{Level, Reason, overall};
use crate::targets::Target;

/// Everything the status report says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub project: String,
    pub status: Level,
    /// Why it is not OPERATIONAL, worst first.
    pub reasons: Vec<Reason>,
    /// RFC 3339 UTC.
    pub updated: String,
    /// What made this report: `gantry status --check`, `schedule`, `deploy web-3`, ...
    pub trigger: String,
    pub git: Option<Git>,
    /// The last pipeline run.
    pub run: Option<RunSummary>,
    pub services: Vec<ServiceHealth>,
    pub targets: Vec<TargetHealth>,
    /// Copy-paste commands with this project's names filled in.
    pub commands: Vec<AgentCommand>,
    pub configuration: Configuration,
    pub ledger: LedgerHealth,
    /// Every alert rule, firing or not.
    #[serde(default)]
    pub alerts: Vec<AlertState>,
    /// Every notification channel with its last delivery.
    #[serde(default)]
    pub notifications: Vec<ChannelState>,
    /// Each budgeted role's use (`access.budgets`), role by role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetUse>,
}

/// One budget of one role as of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetUse {
    pub role: String,
    /// `actions_per_hour`, `deploys_per_day` or `tokens_per_day`.
    pub budget: String,
    pub used: u64,
    pub limit: u64,
    /// RFC 3339 UTC: when the count starts again from zero.
    pub resets_at: String,
    /// `operator: 7 of 10 deploys today, resets 00:00 UTC`
    pub text: String,
}

/// The report's form of the budgets' figures.
#[must_use]
pub fn budget_uses(uses: &[gantry_access::budgets::Use]) -> Vec<BudgetUse> {
    uses.iter()
        .map(|u| BudgetUse {
            role: u.role.clone(),
            budget: u.budget.name().into(),
            used: u.used,
            limit: u.limit,
            resets_at: u.resets_at_text(),
            text: u.to_string(),
        })
        .collect()
}

/// One alert rule as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    pub name: String,
    /// `info`, `warn`, `error`.
    pub severity: String,
    /// `firing`, `pending` (holding for its `down_for`), `ok`, or `not evaluated` (only
    /// `gantry serve` evaluates alerts).
    pub state: String,
    /// RFC 3339: since when it fires or is pending.
    pub since: Option<String>,
    /// The condition as the exported Prometheus rule writes it.
    pub condition: String,
    /// What the last evaluation saw.
    pub detail: Option<String>,
    pub runbook: Option<String>,
}

/// One notification channel as the report shows it (never its URL: a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    pub name: String,
    /// `slack`, `discord`, `webhook`.
    pub kind: String,
    pub min_severity: String,
    /// `sent`, `failed`, `nothing sent yet`, or `not known` (without `gantry serve`).
    pub last: String,
    /// RFC 3339 time of the last delivery or failure.
    pub last_at: Option<String>,
    /// Why the last message failed, until one is delivered again.
    pub failing: Option<String>,
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Git {
    pub branch: Option<String>,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    pub pipeline: String,
    pub status: String,
    pub started: String,
    pub duration_ms: Option<u64>,
    /// A URL to the CI run when one is known (GitHub Actions' environment), else the
    /// command that shows it.
    pub link: String,
    pub jobs: Vec<Job>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub stage: String,
    pub status: String,
    pub duration_ms: Option<u64>,
    /// Agent id that signed (or vetoed) the stage's checkpoint, with the decision.
    pub checkpoint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealth {
    /// The deploy target: the service, or `service@env` under `environments:`.
    pub name: String,
    /// The environment, under `environments:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub address: String,
    pub status: Level,
    pub stable: Option<String>,
    /// Share of traffic per version, in percent.
    pub traffic: BTreeMap<String, u32>,
    /// Ready instances, when known (under `gantry serve`).
    pub ready: Option<u32>,
    pub desired: u32,
    pub latency_p99_ms: Option<f64>,
    pub error_rate: Option<f64>,
    /// RFC 3339 time of the last probe, if any.
    pub last_check: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub name: String,
    pub kind: String,
    pub address: String,
    /// `ok`, `failing` or `not checked`.
    pub state: String,
    pub latency_ms: Option<f64>,
    pub last_check: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCommand {
    pub what: String,
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    pub schedule: String,
    pub channels: Vec<String>,
    pub labels: Vec<String>,
    pub emergency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerHealth {
    pub entries: u64,
    /// `true` / `false` once verified, absent when this report did not verify it.
    pub verified: Option<bool>,
    pub problem: Option<String>,
}

/// One probe's result with when it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub result: ProbeResult,
    pub at: DateTime<Utc>,
}

/// What the control plane knows live about one service (absent without `gantry serve`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub ready: u32,
    /// Share of traffic per version, percent.
    pub traffic: BTreeMap<String, u32>,
    pub latency_p99_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub emergency_stop: bool,
}

/// A rollback the ledger records, with its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub service: String,
    pub at: DateTime<Utc>,
    pub to: Option<String>,
    pub reason: Option<String>,
}

/// Everything a report is built from.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub state: &'a State,
    pub targets: &'a [Target],
    /// Latest sample per [`Target::key`].
    pub samples: &'a BTreeMap<String, Sample>,
    /// Per service, when a control plane runs.
    pub live: Option<&'a BTreeMap<String, Live>>,
    pub rollbacks: &'a [Rollback],
    /// `Ok(true)` verified, `Ok(false)` not verified by this report, `Err` the failure.
    pub ledger_verified: Result<bool, String>,
    /// A ledger write failure the control plane hit.
    pub ledger_write_error: Option<String>,
    /// Notification channels failing, with why.
    pub channel_failures: Vec<String>,
    /// Alerts firing, by name, with their severity's level.
    pub alerts: Vec<Reason>,
    /// Every alert rule's state, for the report's alerts section.
    pub alert_rules: Vec<AlertState>,
    /// Every channel's deliveries, for the report's notifications section.
    pub deliveries: Vec<ChannelState>,
    pub now: DateTime<Utc>,
    pub trigger: String,
    pub git: Option<Git>,
    /// Where a run can be seen (CI URL), if known.
    pub run_url: Option<String>,
    pub schedule: String,
    pub channels: Vec<String>,
    pub labels: Vec<String>,
    /// Each budgeted role's use now (`gantry_access::budgets::report`).
    pub budgets: &'a [gantry_access::budgets::Use],
}

/// Rollbacks in the ledger (`deployment.state.rolled_back`) with a parseable time.
#[must_use]
pub fn rollbacks(entries: &[gantry_ledger::Entry]) -> Vec<Rollback> {
    entries
        .iter()
        .filter(|e| e.kind == "deployment.state.rolled_back")
        .filter_map(|e| {
            Some(Rollback {
                service: e.body.get("service")?.as_str()?.to_string(),
                at: DateTime::parse_from_rfc3339(&e.ts)
                    .ok()?
                    .with_timezone(&Utc),
                to: e
                    .body
                    .get("to")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                reason: e
                    .body
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
            })
        })
        .collect()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Builds the report.
#[must_use]
pub fn build(i: &Inputs<'_>) -> Report {
    let mut reasons = Vec::new();
    let emergency = i.state.services.emergency_stop
        || i.live.is_some_and(|l| l.values().any(|s| s.emergency_stop));
    if emergency {
        reasons.push(Reason::new(
            Level::Critical,
            "control plane",
            "emergency stop in force: every service answers 503 (`gantry start` ends it)",
        ));
    }
    if let Err(why) = &i.ledger_verified {
        reasons.push(Reason::new(
            Level::Critical,
            "ledger",
            format!("does not verify: {why}"),
        ));
    }
    if let Some(why) = &i.ledger_write_error {
        reasons.push(Reason::new(
            Level::Critical,
            "ledger",
            format!("cannot be written: {why}"),
        ));
    }
    let services = services(i, emergency, &mut reasons);
    let targets = targets(i, &mut reasons);
    for failure in &i.channel_failures {
        reasons.push(Reason::new(
            Level::Degraded,
            "notifications",
            failure.clone(),
        ));
    }
    reasons.extend(i.alerts.iter().cloned());
    // Worst first, then in the order they were found.
    reasons.sort_by_key(|r| std::cmp::Reverse(r.level));
    Report {
        project: i.config.project.clone(),
        status: overall(&reasons),
        reasons,
        updated: ts(i.now),
        trigger: i.trigger.clone(),
        git: i.git.clone(),
        run: last_run(i),
        services,
        targets,
        commands: commands(i),
        configuration: Configuration {
            schedule: i.schedule.clone(),
            channels: i.channels.clone(),
            labels: i.labels.clone(),
            emergency: "gantry stop --emergency (every service answers 503, instances stop), \
                        then gantry start once it is safe"
                .into(),
        },
        ledger: LedgerHealth {
            entries: i.state.ledger.entries,
            verified: match &i.ledger_verified {
                Ok(true) => Some(true),
                Ok(false) => None,
                Err(_) => Some(false),
            },
            problem: i
                .ledger_verified
                .as_ref()
                .err()
                .cloned()
                .or_else(|| i.ledger_write_error.clone()),
        },
        budgets: budget_uses(i.budgets),
        alerts: i.alert_rules.clone(),
        notifications: i.deliveries.clone(),
    }
}

/// The labels the report is kept under (the GitHub status issue's).
#[must_use]
pub fn labels(config: &Config) -> Vec<String> {
    config
        .status
        .github
        .as_ref()
        .map(|g| vec![g.label.clone()])
        .unwrap_or_default()
}

fn services(i: &Inputs<'_>, emergency: bool, reasons: &mut Vec<Reason>) -> Vec<ServiceHealth> {
    let window = chrono::Duration::from_std(crate::status::ROLLBACK_WINDOW).unwrap_or_default();
    i.config
        .deploy_targets()
        .into_iter()
        .map(|t| {
            let (name, svc) = (&t.name, t.settings);
            let view = i.state.services.services.get(name);
            let stable = view.and_then(|v| v.stable.clone());
            let live = i.live.and_then(|l| l.get(name));
            let sample = i
                .targets
                .iter()
                .find(|t| t.service.as_deref() == Some(name))
                .and_then(|t| i.samples.get(&t.key()));
            let desired = svc.instances.value;
            let subject = format!("service {name}");
            let mut mine: Vec<Reason> = Vec::new();
            let in_progress = view
                .and_then(|v| v.deployment.as_ref())
                .is_some_and(|d| d.in_progress());
            if stable.is_none() && !in_progress {
                mine.push(Reason::new(
                    Level::Degraded,
                    &subject,
                    format!("never deployed (`gantry deploy {name} --version VERSION`)"),
                ));
            } else if stable.is_none() {
                // A first deployment is on its way: nothing was ever ready to lose.
                let waiting = view
                    .and_then(|v| v.deployment.as_ref())
                    .filter(|d| d.awaiting_approval())
                    .and_then(|d| d.approval.as_ref());
                mine.push(Reason::new(
                    Level::Degraded,
                    &subject,
                    waiting.map_or_else(
                        || "first deployment in progress".to_string(),
                        |a| {
                            format!(
                                "first deployment awaiting approval by {} (until {})",
                                a.role, a.deadline
                            )
                        },
                    ),
                ));
            } else if emergency {
                // Already the top reason; every service is down on purpose.
            } else if let Some(live) = live {
                if live.ready == 0 {
                    mine.push(Reason::new(Level::Critical, &subject, "no ready instance"));
                } else if live.ready < desired {
                    mine.push(Reason::new(
                        Level::Degraded,
                        &subject,
                        format!("{} of {desired} desired instances ready", live.ready),
                    ));
                }
                if let Some(s) = sample
                    && !s.result.ok
                    && live.ready > 0
                {
                    mine.push(Reason::new(
                        Level::Degraded,
                        &subject,
                        format!(
                            "readiness check through the router fails: {}",
                            s.result.reason.as_deref().unwrap_or("failed")
                        ),
                    ));
                }
            } else if let Some(s) = sample {
                if !s.result.ok {
                    mine.push(Reason::new(
                        Level::Critical,
                        &subject,
                        format!(
                            "no ready instance answers on {}: {}",
                            t.listen,
                            s.result.reason.as_deref().unwrap_or("failed")
                        ),
                    ));
                }
            } else {
                mine.push(Reason::new(
                    Level::Degraded,
                    &subject,
                    "not checked: no control plane runs (`gantry status --check` probes now)",
                ));
            }
            if let Some(rb) = i
                .rollbacks
                .iter()
                .rev()
                .find(|r| r.service == *name && i.now - r.at <= window)
            {
                mine.push(Reason::new(
                    Level::Degraded,
                    &subject,
                    format!(
                        "rolled back{} at {}{}",
                        rb.to
                            .as_ref()
                            .map(|v| format!(" to {v}"))
                            .unwrap_or_default(),
                        ts(rb.at),
                        rb.reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ),
                ));
            }
            let traffic = match live {
                Some(l) => l.traffic.clone(),
                None => view.map(|v| percent(&v.weights)).unwrap_or_default(),
            };
            let health = ServiceHealth {
                name: name.clone(),
                env: t.env.map(str::to_string),
                address: t.listen.to_string(),
                status: overall(&mine),
                stable,
                traffic,
                ready: live.map(|l| l.ready),
                desired,
                latency_p99_ms: live.and_then(|l| l.latency_p99_ms),
                error_rate: live.and_then(|l| l.error_rate),
                last_check: sample.map(|s| ts(s.at)),
                reason: (!mine.is_empty()).then(|| {
                    mine.iter()
                        .map(|r| r.text.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            };
            reasons.extend(mine);
            health
        })
        .collect()
}

/// Weights as whole percentages of their sum.
#[must_use]
pub fn percent(weights: &BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    let total: u64 = weights.values().map(|w| u64::from(*w)).sum();
    weights
        .iter()
        .filter(|(_, w)| **w > 0)
        .map(|(v, w)| {
            let share = (u64::from(*w) * 100 + total / 2)
                .checked_div(total)
                .unwrap_or(0);
            (v.clone(), u32::try_from(share).unwrap_or(100))
        })
        .collect()
}

fn targets(i: &Inputs<'_>, reasons: &mut Vec<Reason>) -> Vec<TargetHealth> {
    i.targets
        .iter()
        .filter(|t| t.service.is_none())
        .map(|t| {
            let sample = i.samples.get(&t.key());
            let state = match sample {
                Some(s) if s.result.ok => "ok",
                Some(_) => "failing",
                None => "not checked",
            };
            let subject = format!("target {}", t.name);
            match sample {
                Some(s) if !s.result.ok => reasons.push(Reason::new(
                    Level::Degraded,
                    &subject,
                    s.result.reason.clone().unwrap_or_else(|| "failing".into()),
                )),
                None => reasons.push(Reason::new(Level::Degraded, &subject, "not checked yet")),
                Some(_) => {}
            }
            TargetHealth {
                name: t.name.clone(),
                kind: t.check.kind().into(),
                address: t.check.address().into(),
                state: state.into(),
                latency_ms: sample.map(|s| s.result.latency_ms),
                last_check: sample.map(|s| ts(s.at)),
                reason: sample.and_then(|s| s.result.reason.clone()),
            }
        })
        .collect()
}

fn last_run(i: &Inputs<'_>) -> Option<RunSummary> {
    // Ids start with their UTC start time: the last key is the latest run.
    let run = i.state.runs.runs.values().next_back()?;
    let jobs = run
        .stages
        .iter()
        .map(|stage| {
            let checkpoint = run
                .checkpoints
                .iter()
                .rev()
                .find(|c| c.stage == stage.name)
                .map(|c| match &c.signer {
                    Some(who) => format!("{} by {who} ({})", c.status, c.role),
                    None => format!("{} ({})", c.status, c.role),
                });
            Job {
                stage: stage.name.clone(),
                status: stage.status.clone(),
                duration_ms: stage.duration_ms,
                checkpoint,
            }
        })
        .collect();
    Some(RunSummary {
        id: run.id.clone(),
        pipeline: run.pipeline.clone(),
        status: run.status.as_str().into(),
        started: run.started.clone(),
        duration_ms: run.duration_ms,
        link: i
            .run_url
            .clone()
            .unwrap_or_else(|| format!("gantry runs show {}", run.id)),
        jobs,
    })
}

fn commands(i: &Inputs<'_>) -> Vec<AgentCommand> {
    let mut out = vec![AgentCommand {
        what: "refresh this report (probes every target now)".into(),
        command: "gantry status --refresh --json".into(),
    }];
    for t in i.config.deploy_targets() {
        let (name, svc) = (&t.name, t.settings);
        let view = i.state.services.services.get(name);
        let stable = view.and_then(|v| v.stable.as_deref());
        if let Some(previous) = view.and_then(|v| v.history.last()) {
            out.push(AgentCommand {
                what: format!("roll {name} back to {previous}"),
                command: format!("gantry rollback {name} --to {previous}"),
            });
        }
        // Update one component = deploy one service: the newest release not serving now.
        if let Some(next) = svc
            .releases
            .keys()
            .rev()
            .find(|v| Some(v.as_str()) != stable)
        {
            out.push(AgentCommand {
                what: format!("update {name} to {next}"),
                command: format!("gantry deploy {name} --version {next} --wait"),
            });
        }
    }
    out.push(AgentCommand {
        what: "emergency stop: every service answers 503, instances stop".into(),
        command: "gantry stop --emergency".into(),
    });
    out.push(AgentCommand {
        what: "start again after an emergency stop".into(),
        command: "gantry start".into(),
    });
    out
}
