//! Monitoring inside `gantry serve`: check rounds on the schedule and after events, the
//! status report kept current (in memory for `GET /v1/status`, and in
//! `.gantry/status.md` / `.gantry/status.json`), `status.changed` entries on transitions,
//! and the metrics behind `GET /metrics`.
//!
//! It reads the control plane only through [`App::ps`], the driver's measurements and the
//! ledger file, which it tails: entries written by other processes (a pipeline run) count
//! as events too. Probe samples are metrics, never entries.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use gantry_ledger::{Entry, Follower};
use gantry_monitor::metrics::{Metrics, Window};
use gantry_monitor::report::{self, Inputs, Live, Rollback};
use gantry_monitor::round::{Busy, Progress, Rounds};
use gantry_monitor::{Level, Report, Sample, Schedule, Target};
use gantry_state::State;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::app::{App, By};

/// How far back the report's p99 and error rate look.
const FIGURES_WINDOW: Duration = Duration::from_secs(60);
/// How often the ledger is looked at for new entries.
const TAIL_EVERY: Duration = Duration::from_millis(200);

/// Entry kinds after which a check round runs at once.
fn is_event(kind: &str) -> bool {
    matches!(
        kind,
        "deployment.state.succeeded"
            | "deployment.state.failed"
            | "deployment.state.rolled_back"
            | "deployment.state.aborted"
            | "deployment.state.promoted"
            | "rollback.triggered"
            | "control.emergency_stop"
            | "control.started"
            | "pipeline.state.succeeded"
            | "pipeline.state.failed"
    )
}

/// The monitoring side of a running control plane, shared with the API.
pub struct Monitoring {
    report: Mutex<Option<Report>>,
    pub(crate) metrics: Arc<Metrics>,
    refresh: mpsc::UnboundedSender<oneshot::Sender<Report>>,
    /// Read at each scrape for the router's lifetime counters.
    driver: Arc<dyn gantry_deploy::Driver>,
    services: Vec<String>,
    /// Each budgeted role's use, for the report.
    pub(crate) budgets: Arc<crate::budgets::Budgets>,
}

impl Monitoring {
    /// The current report (`None` until the first round has finished).
    pub fn report(&self) -> Option<Report> {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The OpenMetrics text, with the router's counters as of now.
    pub fn encode_metrics(&self) -> String {
        for service in &self.services {
            if let Some(t) = self.driver.request_totals(service) {
                self.metrics.router_totals(service, &t);
            }
        }
        self.metrics.encode()
    }

    /// Runs a check round now and returns its report.
    pub async fn refresh(&self) -> Option<Report> {
        let (tx, rx) = oneshot::channel();
        self.refresh.send(tx).ok()?;
        rx.await.ok()
    }
}

/// What the monitor folds from the ledger file.
struct Tail {
    follow: Follower,
    state: State,
    rollbacks: Vec<Rollback>,
    /// The `to` of the last `status.changed`.
    last_status: Option<Level>,
}

impl Tail {
    /// New whole entries since the last call (a torn last line waits for its end).
    /// Only admitted entries are returned: one by the wrong signer changes nothing.
    fn read(&mut self, metrics: &Metrics) -> Vec<Entry> {
        let Ok(lines) = self.follow.read_lines(|_| true) else {
            return Vec::new();
        };
        if self.follow.rewound {
            // Truncated under us (torn tail recovered): fold again from the start.
            self.state = State::default();
            self.rollbacks.clear();
            self.last_status = None;
        }
        let mut out = Vec::new();
        for line in &lines {
            let Ok(entry) = serde_json::from_slice::<Entry>(line) else {
                continue;
            };
            let admitted = self.state.apply(&entry);
            metrics.entry(&entry);
            if entry.kind == "status.changed" && entry.actor.role == gantry_ledger::SYSTEM_ROLE {
                self.last_status = entry
                    .body
                    .get("to")
                    .and_then(|v| v.as_str())
                    .and_then(Level::parse);
            }
            self.rollbacks
                .extend(report::rollbacks(std::slice::from_ref(&entry)));
            if admitted {
                out.push(entry);
            }
        }
        out
    }

    fn new(path: PathBuf) -> Tail {
        Tail {
            follow: Follower::new(&path),
            state: State::default(),
            rollbacks: Vec::new(),
            last_status: None,
        }
    }
}

/// Checks that every target resolves and the schedule parses, before serve starts anything.
pub fn validate(
    config: &gantry_config::Config,
    env: &BTreeMap<String, String>,
) -> Result<(), gantry_monitor::MonitorError> {
    gantry_monitor::targets::targets(config, env)?;
    Schedule::of(config.monitor.as_ref())?;
    crate::notifications::validate(config, env)?;
    gantry_monitor::github::IssueTarget::from_config(config, env)?;
    Ok(())
}

/// Starts monitoring `app`; `gantry_dir` holds the ledger and gets the report files;
/// `env` is the environment targets are resolved in.
pub fn start(
    app: Arc<App>,
    gantry_dir: PathBuf,
    env: BTreeMap<String, String>,
    budgets: Arc<crate::budgets::Budgets>,
) -> Result<Arc<Monitoring>, gantry_monitor::MonitorError> {
    let targets = gantry_monitor::targets::targets(&app.core.config(), &env)?;
    let schedule = Schedule::of(app.core.config().monitor.as_ref())?;
    let rounds = Rounds::http(gantry_monitor::probe::client()?, targets.clone());
    let (tx, rx) = mpsc::unbounded_channel();
    let monitoring = Arc::new(Monitoring {
        report: Mutex::new(None),
        metrics: Arc::new(Metrics::new()),
        refresh: tx,
        driver: Arc::clone(&app.core.driver),
        services: app.core.config().services.keys().cloned().collect(),
        budgets,
    });
    let notifier =
        crate::notifications::start(&app.core.config(), &env, Arc::clone(&monitoring.metrics))?;
    tokio::spawn(crate::ledger_verify::every(
        gantry_dir.join("ledger.jsonl"),
        Arc::clone(&monitoring),
    ));
    let github = crate::github_sync::start(&app.core.config(), &env)?;
    let mut tail = Tail::new(gantry_dir.join("ledger.jsonl"));
    let history = tail.read(&monitoring.metrics);
    // What was written after this control plane's own `control.started` is not history: a
    // `gantry run` that ended while serve was starting left its failure to serve (it saw
    // the lock), so it is sent now.
    let pid = std::process::id();
    let fresh = history
        .iter()
        .rposition(|e| {
            e.kind == "control.started"
                && e.actor.role == gantry_ledger::SYSTEM_ROLE
                && e.body.get("pid").and_then(serde_json::Value::as_u64) == Some(u64::from(pid))
        })
        .map_or(&[][..], |i| &history[i + 1..]);
    crate::notifications::feed(notifier.as_ref(), fresh, &tail.state);
    let alerting = crate::alerting::Alerting::new(&app.core.config(), &history);
    let runner = Runner {
        app,
        monitoring: Arc::clone(&monitoring),
        gantry_dir,
        targets,
        rounds,
        asked: BTreeMap::new(),
        schedule,
        env,
        samples: BTreeMap::new(),
        tail,
        notifier,
        alerting,
        github,
    };
    tokio::spawn(runner.run(rx));
    Ok(monitoring)
}

struct Runner {
    app: Arc<App>,
    monitoring: Arc<Monitoring>,
    gantry_dir: PathBuf,
    targets: Vec<Target>,
    rounds: Rounds,
    /// Open rounds: what triggered each and who waits for its report.
    asked: BTreeMap<u64, (String, Vec<oneshot::Sender<Report>>)>,
    schedule: Schedule,
    env: BTreeMap<String, String>,
    samples: BTreeMap<String, Sample>,
    tail: Tail,
    notifier: Option<gantry_monitor::notify::Notifier>,
    alerting: crate::alerting::Alerting,
    /// The latest report for the GitHub status issue, when `status.github` is set.
    github: Option<tokio::sync::watch::Sender<String>>,
}

impl Runner {
    async fn run(mut self, mut refresh: mpsc::UnboundedReceiver<oneshot::Sender<Report>>) {
        self.start_round("start".into(), None, None);
        let mut due = self.schedule.next_after(chrono::Local::now());
        // The due time on tokio's clock, set once per due time: lateness counts from it,
        // also when the loop gets to it late.
        let mut due_at = on_tokio_clock(due);
        let mut tick = tokio::time::interval(TAIL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(due_at) => {
                    if let Some(d) = due && d - Utc::now() > chrono::Duration::milliseconds(20) {
                        // The wall clock went back (or tokio's ran ahead): wait for it.
                        due_at = on_tokio_clock(due);
                        continue;
                    }
                    let scheduled = due.unwrap_or_else(Utc::now);
                    // From the due time, not from now: rounds keep to the schedule.
                    let next = self.schedule.next_after(scheduled.with_timezone(&chrono::Local));
                    if let Some(gap) = next.and_then(|n| (n - scheduled).to_std().ok()) {
                        let spread = Rounds::spread_for(self.rounds.targets().len(), gap);
                        self.rounds.set_spread(spread);
                    }
                    self.start_round("schedule".into(), Some(due_at), None);
                    due = next;
                    if let Some(d) = due && d < Utc::now() {
                        // Fell behind (the process was stopped, the clock jumped): skip,
                        // don't burst.
                        due = self.schedule.next_after(chrono::Local::now());
                    }
                    due_at = on_tokio_clock(due);
                }
                asked = refresh.recv() => {
                    let Some(asked) = asked else { return };
                    self.start_round("gantry status --refresh".into(), None, Some(asked));
                }
                () = channels_changed(self.notifier.as_ref()) => {
                    self.start_round("a notification channel's delivery changed".into(), None, None);
                }
                _ = tick.tick() => {
                    let events: Vec<String> = self
                        .read_tail()
                        .into_iter()
                        .filter(|e| is_event(&e.kind))
                        .map(|e| describe(&e))
                        .collect();
                    if let Some(last) = events.last() {
                        self.start_round(last.clone(), None, None);
                    }
                }
                progress = self.rounds.next() => self.progress(progress).await,
            }
        }
    }

    /// Starts a check round; its probes' ends come through [`Runner::progress`]. A
    /// scheduled round (`due` set) leaves out targets whose probe still runs, so a slow
    /// target holds back neither the schedule nor the others; any other round waits for
    /// those probes.
    fn start_round(
        &mut self,
        trigger: String,
        due: Option<tokio::time::Instant>,
        reply: Option<oneshot::Sender<Report>>,
    ) {
        let kind = if due.is_some() {
            "schedule"
        } else if trigger.starts_with("gantry status") {
            "refresh"
        } else {
            "event"
        };
        let late = due.map(|d| tokio::time::Instant::now().saturating_duration_since(d));
        self.monitoring.metrics.round(kind, late);
        let busy = if due.is_some() {
            Busy::Skip
        } else {
            Busy::Join
        };
        let round = self.rounds.start(due, busy);
        self.asked
            .insert(round, (trigger, reply.into_iter().collect()));
    }

    /// A probe ended: its sample is kept and counted; a round whose probes have all ended
    /// gets its report.
    async fn progress(&mut self, progress: Progress) {
        let metrics = &self.monitoring.metrics;
        for p in progress.probed {
            let key = self.rounds.targets()[p.target].key();
            metrics.probe(&key, p.sample.result.ok, p.sample.result.latency_ms);
            if let Some(late) = p.late {
                metrics.probe_lateness(late);
            }
            self.samples.insert(key, p.sample);
        }
        // Rounds that end together (a refresh waiting on a scheduled round's probes) make
        // one report, named for the latest trigger.
        let mut finished = progress.finished;
        finished.sort_unstable();
        let (mut trigger, mut replies) = (None, Vec::new());
        for round in finished {
            if let Some((t, r)) = self.asked.remove(&round) {
                trigger = Some(t);
                replies.extend(r);
            }
        }
        let Some(trigger) = trigger else { return };
        let report = self.finish_round(trigger).await;
        for reply in replies {
            let _ = reply.send(report.clone());
        }
    }

    /// The end of a check round: build the report, publish it, record a transition.
    async fn finish_round(&mut self, trigger: String) -> Report {
        let metrics = Arc::clone(&self.monitoring.metrics);
        // Entries the control plane wrote just now (a deploy's end) are in the report.
        self.read_tail();
        let (live, windows) = self.live();
        let channel_failures = self
            .notifier
            .as_ref()
            .map(gantry_monitor::notify::Notifier::failures)
            .unwrap_or_default();
        let ps = self.app.ps();
        let figures = |service: &str, window: Duration| {
            let (mut requests, mut errors, mut p99) = (0u64, 0u64, None::<f64>);
            for svc in ps.services.iter().filter(|s| s.name == service) {
                for version in svc.weights.keys() {
                    let m = self.app.core.driver.measure(service, version, window);
                    requests += m.requests;
                    errors += m.errors_5xx;
                    if m.requests > 0 {
                        p99 = Some(p99.map_or(m.p99_ms, |p: f64| p.max(m.p99_ms)));
                    }
                }
            }
            (requests, errors, p99)
        };
        self.alerting
            .step(
                &self.app,
                &gantry_monitor::alerts::Signals {
                    samples: &self.samples,
                    live: &live,
                    state: &self.tail.state,
                    figures: &figures,
                    channel_failures: &channel_failures,
                },
            )
            .await;
        let ledger_error = self.app.ledger_failure();
        let budgets = self.monitoring.budgets.report(&self.app).await;
        let report = report::build(&Inputs {
            config: &self.app.core.config(),
            state: &self.tail.state,
            targets: &self.targets,
            samples: &self.samples,
            live: Some(&live),
            rollbacks: &self.tail.rollbacks,
            ledger_verified: Ok(false),
            ledger_write_error: ledger_error.clone(),
            channel_failures,
            alerts: self.alerting.reasons(),
            alert_rules: self.alerting.states(),
            deliveries: self
                .notifier
                .as_ref()
                .map(gantry_monitor::notify::Notifier::states)
                .unwrap_or_default(),
            now: Utc::now(),
            trigger,
            git: gantry_monitor::git::describe(
                self.gantry_dir.parent().unwrap_or(&self.gantry_dir),
            ),
            run_url: gantry_monitor::git::run_url(&self.env),
            schedule: self.schedule.describe(),
            channels: self
                .notifier
                .as_ref()
                .map(gantry_monitor::notify::Notifier::describe)
                .unwrap_or_default(),
            labels: report::labels(&self.app.core.config()),
            budgets: &budgets,
        });
        metrics.report(&report, &self.tail.state, &windows, ledger_error.is_none());
        self.publish(&report);
        if self.tail.last_status != Some(report.status) {
            let from = self.tail.last_status.map_or("UNKNOWN", Level::as_str);
            let reasons: Vec<String> = report.reasons.iter().map(ToString::to_string).collect();
            if self
                .app
                .core
                .record(
                    By::System,
                    "status.changed",
                    json!({"from": from, "to": report.status.as_str(), "reasons": reasons, "trigger": report.trigger}),
                )
                .await
                .is_some()
            {
                self.tail.last_status = Some(report.status);
            }
        }
        report
    }

    /// New admitted entries, also handed to the notification channels.
    fn read_tail(&mut self) -> Vec<Entry> {
        let entries = self.tail.read(&self.monitoring.metrics);
        crate::notifications::feed(self.notifier.as_ref(), &entries, &self.tail.state);
        entries
    }

    /// The live view per service from `ps`, and the router's window per version.
    fn live(&self) -> (BTreeMap<String, Live>, BTreeMap<(String, String), Window>) {
        let ps = self.app.ps();
        let mut live = BTreeMap::new();
        let mut windows = BTreeMap::new();
        for svc in ps.services {
            let ready = svc.instances.iter().filter(|i| i.ready).count();
            let (mut requests, mut errors, mut p99) = (0u64, 0u64, None::<f64>);
            for version in svc.weights.keys() {
                let m = self
                    .app
                    .core
                    .driver
                    .measure(&svc.name, version, FIGURES_WINDOW);
                windows.insert(
                    (svc.name.clone(), version.clone()),
                    Window {
                        requests: m.requests,
                        errors_5xx: m.errors_5xx,
                        p99_ms: m.p99_ms,
                    },
                );
                requests += m.requests;
                errors += m.errors_5xx;
                if m.requests > 0 {
                    p99 = Some(p99.map_or(m.p99_ms, |p: f64| p.max(m.p99_ms)));
                }
            }
            live.insert(
                svc.name.clone(),
                Live {
                    ready: u32::try_from(ready).unwrap_or(u32::MAX),
                    traffic: report::percent(&svc.weights),
                    latency_p99_ms: p99,
                    error_rate: (requests > 0).then(|| errors as f64 / requests as f64),
                    emergency_stop: svc.emergency_stop,
                },
            );
        }
        (live, windows)
    }

    fn publish(&self, report: &Report) {
        *self
            .monitoring
            .report
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(report.clone());
        let md = gantry_monitor::render::markdown(report);
        if let Some(gh) = &self.github {
            gh.send_replace(md.clone());
        }
        let json = serde_json::to_string_pretty(report).unwrap_or_default() + "\n";
        for (name, text) in [("status.md", md), ("status.json", json)] {
            let path = self.gantry_dir.join(name);
            if let Err(e) = gantry_ledger::durable::write_atomic(&path, text.as_bytes(), 0o644) {
                tracing::warn!(path = %path.display(), error = %e, "cannot write the status report");
            }
        }
    }
}

/// `due` (wall clock) as an instant on tokio's clock; a day away when nothing is due.
fn on_tokio_clock(due: Option<chrono::DateTime<Utc>>) -> tokio::time::Instant {
    let wait = due.map_or(Duration::from_secs(86_400), |d| {
        (d - Utc::now()).to_std().unwrap_or(Duration::ZERO)
    });
    tokio::time::Instant::now() + wait
}

async fn channels_changed(notifier: Option<&gantry_monitor::notify::Notifier>) {
    match notifier {
        Some(n) => n.changed().await,
        None => std::future::pending().await,
    }
}

fn describe(entry: &Entry) -> String {
    let what = entry
        .body
        .get("id")
        .or_else(|| entry.body.get("run"))
        .and_then(|v| v.as_str())
        .map(|id| format!(" {id}"))
        .unwrap_or_default();
    format!("{}{what} (seq {})", entry.kind, entry.seq)
}
