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
    pub(crate) emergency: AtomicBool,
    pub(crate) next_instance: AtomicU64,
    /// Serialises operations that change which instances run (deploy start, rollback,
    /// emergency stop, start), so two of them never interleave on one service.
    pub(crate) ops: tokio::sync::Mutex<()>,
    pub(crate) shutdown: Notify,
    /// `gantry serve --stop` asked for the shutdown (else a signal did).
    pub(crate) stop_requested: AtomicBool,
    pub(crate) events_done: Notify,
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
            next_instance: AtomicU64::new(first_instance),
            ops: tokio::sync::Mutex::new(()),
            shutdown: Notify::new(),
            stop_requested: AtomicBool::new(false),
            events_done: Notify::new(),
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

    /// Appends one entry (durable on return). A ledger failure is logged, not fatal: the
    /// control plane keeps traffic flowing even if it cannot write evidence.
    pub(crate) async fn record(&self, by: By, kind: &str, body: Value) -> Option<Entry> {
        let signer = match by {
            By::Operator => Arc::clone(&self.operator),
            By::System => Arc::clone(&self.system),
        };
        let committer = self.committer.clone();
        let entry = NewEntry::new(kind, body);
        let kind = kind.to_string();
        match tokio::task::spawn_blocking(move || committer.append_shared(signer, entry)).await {
            Ok(Ok(e)) => Some(e),
            Ok(Err(err)) => {
                tracing::error!(%kind, error = %err, "cannot write ledger entry");
                None
            }
            Err(err) => {
                tracing::error!(%kind, error = %err, "ledger writer task failed");
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
        let mut traffic = self.driver.traffic(service);
        traffic.weights = weights.clone();
        traffic.emergency_stop = self.emergency.load(Ordering::Acquire);
        self.driver.set_traffic(service, &traffic);
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
        let mut traffic: Traffic = self.driver.traffic(service);
        traffic.preview = version.map(str::to_string);
        self.driver.set_traffic(service, &traffic);
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
