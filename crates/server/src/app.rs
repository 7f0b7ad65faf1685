//! The control plane's shared state: configuration, driver, ledger writer, the services'
//! stable versions and the deployments (running and finished).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_config::{Config, Service};
use gantry_deploy::{
    Driver, DriverError, InstanceSpec, InstanceStatus, Plan, Step, TimelineEvent, Traffic,
};
use gantry_ledger::{Entry, GroupCommitter, NewEntry, Signer};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::deployment::Deployment;

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
    next_instance: AtomicU64,
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

    pub(crate) fn spec(&self, service: &str, version: &str) -> Result<InstanceSpec, DriverError> {
        let svc = self
            .config
            .services
            .get(service)
            .ok_or_else(|| DriverError::Other(format!("no service '{service}'")))?;
        let release = svc.releases.get(version).ok_or_else(|| {
            DriverError::Other(format!("service '{service}' has no release '{version}'"))
        })?;
        let mut env = svc.env.clone();
        env.extend(release.env.clone());
        let n = self.next_instance.fetch_add(1, Ordering::Relaxed);
        Ok(InstanceSpec {
            service: service.into(),
            version: version.into(),
            instance: format!("{service}-{version}-{n}"),
            command: release.run.value.clone(),
            env,
            health: svc.health.clone(),
            log_dir: self.log_dir.join(service),
        })
    }

    /// Starts `count` instances of `version` and waits until all are ready, the deadline
    /// passes, or `cancelled` says to stop waiting. Err: why it did not get ready.
    pub(crate) async fn start_and_wait(
        &self,
        service: &str,
        version: &str,
        count: u32,
        deadline: Duration,
        cancelled: impl Fn() -> bool,
    ) -> Result<(), String> {
        self.start_and_wait_with(service, version, count, &[], deadline, cancelled)
            .await
    }

    /// [`App::start_and_wait`], also waiting for `running` (instances already there, e.g.
    /// adopted after a restart) to be ready.
    pub(crate) async fn start_and_wait_with(
        &self,
        service: &str,
        version: &str,
        count: u32,
        running: &[String],
        deadline: Duration,
        cancelled: impl Fn() -> bool,
    ) -> Result<(), String> {
        let mut ids = running.to_vec();
        for _ in 0..count {
            let spec = self.spec(service, version).map_err(|e| e.to_string())?;
            ids.push(spec.instance.clone());
            self.driver.start(spec).await.map_err(|e| e.to_string())?;
        }
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let ours: Vec<InstanceStatus> = self
                .driver
                .instances(service)
                .into_iter()
                .filter(|i| ids.contains(&i.instance))
                .collect();
            let ready = ours.iter().filter(|i| i.ready).count();
            if ready >= ids.len() {
                return Ok(());
            }
            if let Some(i) = ours
                .iter()
                .find(|i| i.phase == gantry_deploy::InstancePhase::CrashLooping)
            {
                return Err(format!(
                    "instance {} of {version} is crash looping ({} restarts)",
                    i.instance, i.restarts
                ));
            }
            if cancelled() {
                return Err("cancelled".into());
            }
            if tokio::time::Instant::now() >= until {
                return Err(format!(
                    "{} of {} instance(s) of {version} ready within the progress deadline ({}ms)",
                    ready,
                    ids.len(),
                    deadline.as_millis()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sets the traffic weights of `service` and records `traffic.shifted`.
    pub(crate) async fn shift(
        &self,
        dep: Option<&Deployment>,
        service: &str,
        weights: &BTreeMap<String, u32>,
    ) {
        let mut traffic = self.driver.traffic(service);
        traffic.weights = weights.clone();
        traffic.emergency_stop = self.emergency.load(Ordering::Acquire);
        self.driver.set_traffic(service, &traffic);
        if let Some(d) = dep {
            d.set_weights(weights.clone());
        }
        let text = weights
            .iter()
            .map(|(v, w)| format!("{v}={w}"))
            .collect::<Vec<_>>()
            .join(" ");
        self.record_for(
            dep,
            By::System,
            "traffic.shifted",
            json!({"service": service, "weights": weights, "deployment": dep.map(|d| d.id.clone())}),
            format!("traffic {text}"),
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
    /// deployments; rollback and restore plans have none).
    pub(crate) async fn run_simple(
        &self,
        dep: Option<&Deployment>,
        plan: &Plan,
    ) -> Result<(), String> {
        for step in &plan.steps {
            match step {
                Step::Start { version, count } => {
                    self.start_and_wait(
                        &plan.service,
                        version,
                        *count,
                        Duration::from_millis(plan.progress_deadline_ms),
                        || false,
                    )
                    .await?
                }
                Step::Weights { weights } => self.shift(dep, &plan.service, weights).await,
                Step::Stop { version, count } => {
                    self.stop_version(&plan.service, version, *count).await
                }
                Step::Preview { .. } | Step::Pause { .. } | Step::Promote { .. } => {}
            }
        }
        Ok(())
    }
}
