//! The control plane's shared state: configuration, driver, ledger writer, the services'
//! stable versions and the deployments (running and finished).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_config::{Config, Service};
use gantry_deploy::{Driver, InstanceStatus, Plan, Progress, Step, TimelineEvent, Traffic, share};
use gantry_ledger::{Entry, GroupCommitter, NewEntry, Signer};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::deployment::Deployment;
use crate::ready::{Gate, Rollout};

/// Who an entry is attributed to. Operator requests (deploy, promote, pause, resume,
/// abort, rollback, emergency stop, start) are signed by the operator role; what the
/// control plane observes or decides by itself is signed by the system key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Operator,
    System,
}

/// A service as the control plane runs it.
#[derive(Clone, Default)]
pub(crate) struct Svc {
    pub stable: Option<String>,
    /// Earlier stable versions, oldest first.
    pub history: Vec<String>,
    pub active: Option<Arc<Deployment>>,
    pub deployments: u64,
}

pub struct App {
    pub(crate) config: Config,
    pub(crate) driver: Arc<dyn Driver>,
    committer: GroupCommitter,
    system: Arc<Signer>,
    operator: Arc<Signer>,
    pub(crate) log_dir: std::path::PathBuf,
    pub(crate) services: Mutex<BTreeMap<String, Svc>>,
    pub(crate) deployments: Mutex<BTreeMap<String, Arc<Deployment>>>,
    /// Deployments from before this start, replayed from the ledger.
    pub(crate) past: Mutex<BTreeMap<String, gantry_deploy::DeploymentStatus>>,
    /// The emergency stop as the router sees it: every service answers 503.
    pub(crate) emergency: AtomicBool,
    /// No instance may start (set with the emergency stop, cleared by `start` just before
    /// it starts the stable versions): checked right before every driver start.
    pub(crate) halted: AtomicBool,
    /// The traffic table; the only way to the driver's `set_traffic` ([`App::publish`]).
    routes: Mutex<BTreeMap<String, Traffic>>,
    pub(crate) next_instance: AtomicU64,
    /// Serialises operations that change which instances run (deploy start, rollback,
    /// emergency stop, start), so two of them never interleave on one service.
    pub(crate) ops: tokio::sync::Mutex<()>,
    pub(crate) shutdown: Notify,
    /// `gantry serve --stop` asked for the shutdown (else a signal did).
    pub(crate) stop_requested: AtomicBool,
    pub(crate) events_done: Notify,
    /// False until recovery has restored every service: mutating calls wait (503).
    restored: tokio::sync::watch::Sender<bool>,
    /// Cancels the restore (an emergency stop during it).
    restore_task: Mutex<Option<tokio::task::AbortHandle>>,
    /// The first ledger write that failed: from then on mutating calls are refused and the
    /// status is CRITICAL, since nothing the control plane does could be proven.
    ledger_failure: Mutex<Option<String>>,
}

impl App {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Config,
        driver: Arc<dyn Driver>,
        committer: GroupCommitter,
        system: Signer,
        operator: Signer,
        log_dir: std::path::PathBuf,
        first_instance: u64,
        emergency: bool,
    ) -> App {
        App {
            config,
            driver,
            committer,
            system: Arc::new(system),
            operator: Arc::new(operator),
            log_dir,
            services: Mutex::new(BTreeMap::new()),
            deployments: Mutex::new(BTreeMap::new()),
            past: Mutex::new(BTreeMap::new()),
            emergency: AtomicBool::new(emergency),
            halted: AtomicBool::new(emergency),
            routes: Mutex::new(BTreeMap::new()),
            next_instance: AtomicU64::new(first_instance),
            ops: tokio::sync::Mutex::new(()),
            shutdown: Notify::new(),
            stop_requested: AtomicBool::new(false),
            events_done: Notify::new(),
            restored: tokio::sync::watch::Sender::new(false),
            restore_task: Mutex::new(None),
            ledger_failure: Mutex::new(None),
        }
    }

    pub(crate) fn halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// Changes the traffic of `service` and hands the result to the driver, all under one
    /// lock: writes never interleave, and each carries the emergency stop as it is when
    /// written, so a shift computed before the stop can never write it back to "off".
    pub(crate) fn publish(&self, service: &str, change: impl FnOnce(&mut Traffic)) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let traffic = routes
            .entry(service.to_string())
            .or_insert_with(|| self.driver.traffic(service));
        change(traffic);
        traffic.emergency_stop = self.emergency.load(Ordering::Acquire);
        self.driver.set_traffic(service, traffic);
    }

    /// The traffic of `service` as last published.
    pub(crate) fn traffic(&self, service: &str) -> Traffic {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes
            .get(service)
            .cloned()
            .unwrap_or_else(|| self.driver.traffic(service))
    }

    pub(crate) fn set_restore_task(&self, task: tokio::task::AbortHandle) {
        *self.restore_task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Stops a restore in progress where it is, and waits until it has stopped.
    pub(crate) async fn cancel_restore(&self) {
        let task = self
            .restore_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            task.abort();
            self.wait_restored().await;
        }
    }

    pub(crate) fn restored(&self) {
        self.restored.send_replace(true);
    }

    pub(crate) async fn wait_restored(&self) {
        let mut rx = self.restored.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }

    /// Why the ledger cannot be written, once a write failed.
    pub fn ledger_failure(&self) -> Option<String> {
        self.ledger_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a mutating call may run now: not while recovery restores the services (it
    /// would run beside the restore), and never again after a ledger write failed.
    pub(crate) fn admit(&self) -> Result<(), crate::ServerError> {
        if let Some(why) = self.ledger_failure() {
            return Err(crate::ServerError::Unavailable {
                reason: format!(
                    "the control plane cannot write its ledger ({why}); it refuses every change until restarted with a writable ledger"
                ),
                retry_after: None,
            });
        }
        if !*self.restored.borrow() {
            return Err(crate::ServerError::Unavailable {
                reason:
                    "the control plane is restoring services after a restart; try again shortly"
                        .into(),
                retry_after: Some(1),
            });
        }
        Ok(())
    }

    fn ledger_failed(&self, why: String) {
        let mut failure = self
            .ledger_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            *failure = Some(why);
        }
    }

    pub(crate) fn svcs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Svc>> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn service_config(&self, name: &str) -> Result<&Service, crate::ServerError> {
        self.config
            .services
            .get(name)
            .map(|s| &s.value)
            .ok_or_else(|| {
                crate::ServerError::NotFound(format!(
                    "no service '{name}' in gantry.yaml; services: {}",
                    self.config
                        .services
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Appends one entry (durable on return). A ledger failure keeps traffic flowing but
    /// is loud: it is remembered, every later mutating call is refused and `ps` is CRITICAL.
    pub(crate) async fn record(&self, by: By, kind: &str, body: Value) -> Option<Entry> {
        let signer = match by {
            By::Operator => Arc::clone(&self.operator),
            By::System => Arc::clone(&self.system),
        };
        let committer = self.committer.clone();
        let mut body = body;
        if by == By::Operator
            && let (Some(caller), Some(fields)) = (crate::Caller::current(), body.as_object_mut())
        {
            fields.insert("caller".into(), json!(caller));
        }
        let entry = NewEntry::new(kind, body);
        let kind = kind.to_string();
        match tokio::task::spawn_blocking(move || committer.append_shared(signer, entry)).await {
            Ok(Ok(e)) => Some(e),
            Ok(Err(err)) => {
                tracing::error!(%kind, error = %err, "cannot write ledger entry");
                self.ledger_failed(format!("{kind}: {err}"));
                None
            }
            Err(err) => {
                tracing::error!(%kind, error = %err, "ledger writer task failed");
                self.ledger_failed(format!("{kind}: ledger writer task failed: {err}"));
                None
            }
        }
    }

    /// Records an entry and adds it to a deployment's timeline.
    pub(crate) async fn record_for(
        &self,
        dep: Option<&Deployment>,
        by: By,
        kind: &str,
        body: Value,
        text: String,
    ) {
        let entry = self.record(by, kind, body).await;
        if let Some(dep) = dep {
            dep.push_timeline(TimelineEvent {
                ts: entry.as_ref().map(|e| e.ts.clone()).unwrap_or_default(),
                seq: entry.as_ref().map_or(0, |e| e.seq),
                kind: kind.to_string(),
                text,
            });
        }
    }

    /// Sets the traffic weights of `service` and records `traffic.shifted`. With
    /// `by_instances` the weights are instance counts (a rolling update): the timeline then
    /// reads percentages and how many of the wanted instances each version has.
    pub(crate) async fn shift(
        &self,
        dep: Option<&Deployment>,
        service: &str,
        weights: &BTreeMap<String, u32>,
        by_instances: bool,
    ) {
        self.publish(service, |t| t.weights = weights.clone());
        if let Some(d) = dep {
            d.set_weights(weights.clone());
        }
        let wanted = by_instances.then(|| self.service_config(service).map_or(1, |s| *s.instances));
        // `weights` stays as it was (relative weights, what the state fold reads); the
        // share in percent and, for instance counts, what they count out of are added.
        let mut body = json!({"service": service, "weights": weights,
            "deployment": dep.map(|d| d.id.clone()),
            "percent": share::percentages(weights),
            "basis": if by_instances { "instances" } else { "percent" }});
        if let (Some(n), Some(b)) = (wanted, body.as_object_mut()) {
            b.insert("instances_wanted".into(), n.into());
        }
        self.record_for(
            dep,
            By::System,
            "traffic.shifted",
            body,
            share::describe(weights, wanted),
        )
        .await;
    }

    pub(crate) fn set_preview(&self, service: &str, version: Option<&str>) {
        self.publish(service, |t| t.preview = version.map(str::to_string));
    }

    /// Drains and stops `count` instances of `version` (all when `None`), concurrently.
    pub(crate) async fn stop_version(&self, service: &str, version: &str, count: Option<u32>) {
        let mut victims: Vec<InstanceStatus> = self
            .driver
            .instances(service)
            .into_iter()
            .filter(|i| i.version == version && i.phase != gantry_deploy::InstancePhase::Stopping)
            .collect();
        // Unready ones first: they serve nothing.
        victims.sort_by_key(|i| i.ready);
        if let Some(n) = count {
            victims.truncate(n as usize);
        }
        let mut set = tokio::task::JoinSet::new();
        for v in victims {
            let driver = Arc::clone(&self.driver);
            let service = service.to_string();
            set.spawn(async move { driver.stop(&service, &v.instance).await });
        }
        while set.join_next().await.is_some() {}
    }

    /// Instance counts (all, ready) by version.
    pub(crate) fn counts(&self, service: &str) -> BTreeMap<String, (u32, u32)> {
        let mut out: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for i in self.driver.instances(service) {
            if i.phase == gantry_deploy::InstancePhase::Stopping {
                continue;
            }
            let e = out.entry(i.version.clone()).or_default();
            e.0 += 1;
            e.1 += u32::from(i.ready);
        }
        out
    }

    /// Executes the instance and traffic steps of `plan` (pauses and previews are for
    /// deployments; rollback and restore plans have none), under one progress deadline.
    pub(crate) async fn run_simple(
        &self,
        dep: Option<&Deployment>,
        plan: &Plan,
    ) -> Result<(), String> {
        let mut rollout = Rollout::new(Duration::from_millis(plan.progress_deadline_ms));
        for step in &plan.steps {
            match step {
                Step::Start { version, count } => self
                    .start_under(&plan.service, version, *count, &[], &mut rollout, || {
                        Gate::Go
                    })
                    .await
                    .map_err(|e| e.reason)?,
                Step::Weights { weights } => {
                    self.shift(dep, &plan.service, weights, plan.weights_count_instances())
                        .await
                }
                Step::Stop { version, count } => {
                    self.stop_version(&plan.service, version, *count).await;
                    rollout.observe(Progress::ScaledDown);
                }
                Step::Preview { .. } | Step::Pause { .. } | Step::Promote { .. } => {}
            }
        }
        Ok(())
    }
}
