//! gantry's control plane (`gantry serve`): an HTTP API on loopback guarded by a bearer
//! token; the ledger writer (one [`GroupCommitter`]); the local driver with its router,
//! supervisor and probes; deployments with analysis and automatic rollback; and recovery
//! from the ledger on start. One control plane per project: [`run`] needs the project's
//! [`ServeLock`], which the caller takes before it opens the ledger.
//!
//! Ledger entries it writes — transitions and decisions, never samples:
//! `deployment.state.{started,progressing,paused,promoted,succeeded,failed,rolled_back,aborted}`,
//! `instance.{started,ready,unready,restarted,crashlooping,stopped,killed}`, `traffic.shifted`,
//! `rollback.triggered` (with the measured figures), `rollback.planned` (manual rollbacks;
//! never for dry runs), `control.{started,emergency_stop,recovered}`.
//!
//! Concurrency, and why: each service has one owner, a task that alone holds its desired
//! state, active deployment, traffic and the jobs that change its instances
//! ([`owner`]). API calls, analysis verdicts, the driver's instance events, recovery and
//! emergency stop reach it as commands on a bounded queue, applied one at a time and
//! answered when applied or refused with the reason ([`command`]), so "check, record,
//! set" needs no lock and no operation lands after a deployment's end. A deployment's
//! executor is the owner's job: it asks the owner for every effect (a safe point, a
//! traffic shift, a phase), which the owner holds while the operator's pause lasts. The
//! owner publishes read snapshots (`watch`) for `ps` and `deployment(id)`; traffic reaches
//! the driver only from the owner, stamped with the emergency stop. An emergency stop
//! goes to every owner, which cancels its jobs where they are before it answers. A
//! panicking job is caught by its owner (failed and rolled back). Until restore has
//! finished, and for good once a ledger write failed, mutating calls are refused as
//! unavailable (503).
//!
//! Attribution: entries that carry out an operator's request (deploy, promote, pause,
//! resume, abort, rollback, emergency stop, start) are signed by the `operator` role; what
//! the control plane observes or decides itself is signed by the system key (`gantry`).

mod alerting;
mod analysis_prometheus;
pub(crate) mod api;
mod app;
mod budgets;
mod caller;
mod command;
mod control;
mod core;
mod decisions;
mod deployment;
mod error;
mod exec;
mod execute;
mod gate;
mod git_build;
mod github_sync;
mod history;
mod ledger_verify;
mod lock;
mod monitoring;
mod notifications;
mod ops;
mod owner;
mod pause;
mod ready;
mod recovery;
mod reload;
mod runs;
mod scale;
mod steps;
mod targets;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gantry_config::Config;
use gantry_deploy::{Driver, InstanceEvent};
use gantry_ledger::{GroupCommitter, Ledger, Signer};
use gantry_state::State;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use api::auth::{MIN_TOKEN_BYTES, Token};
pub use app::App;
pub use caller::Caller;
pub use control::{Ps, ServiceView};
pub use core::By;
pub use error::{ApiError, ErrorCode, ServerError};
pub use lock::{Holder, LOCK_FILE, ServeLock};
pub use ops::{DeployRequest, RollbackRequest};
pub use reload::{Reloaded, load as load_config, process_env};
pub use runs::PipelineOptions;

/// What the control plane itself needs (no API): the binary adds the API around it, tests
/// drive it in-process through [`ControlPlane`].
pub struct CoreOptions {
    pub config: Config,
    pub ledger: Ledger,
    pub system: Signer,
    /// Signs operator-requested transitions (the system signer if the project has no
    /// operator key).
    pub operator: Signer,
    /// `.gantry/`: instance logs go under `logs/`.
    pub gantry_dir: PathBuf,
    /// Where instances run and how traffic reaches them (the binary picks the driver).
    pub driver: Arc<dyn Driver>,
    /// The driver's instance transitions, each recorded as an `instance.*` entry (a
    /// bounded channel, [`gantry_deploy::EVENT_QUEUE`]).
    pub events: mpsc::Receiver<InstanceEvent>,
}

/// Everything `gantry serve` needs, prepared by the binary.
pub struct ServeOptions {
    pub core: CoreOptions,
    /// Where the API listens (loopback; port 0 picks one).
    pub listen: SocketAddr,
    pub token: Token,
    /// Held for as long as the control plane runs; it gets the API address once bound.
    pub lock: ServeLock,
    /// gantry.yaml, read again on `SIGHUP` and `POST /v1/control/reload`.
    pub config_path: PathBuf,
    /// How pipeline runs started over the API are executed and checkpoints signed.
    pub pipelines: PipelineOptions,
}

/// A running control plane without its HTTP API: what `gantry serve` wraps, and what the
/// in-process tests drive (every operation of the API is a method of [`App`]).
pub struct ControlPlane {
    app: Arc<App>,
    pump: tokio::task::JoinHandle<()>,
}

impl ControlPlane {
    /// Replays the ledger, reclaims the previous control plane's orphans, starts one owner
    /// per service, opens every service, records `control.started` (with `api`, when there
    /// is one) and has the owners restore their services in the background; until that is
    /// done, mutating operations are refused as unavailable.
    pub async fn start(
        opts: CoreOptions,
        api: Option<SocketAddr>,
    ) -> Result<ControlPlane, ServerError> {
        let entries = opts.ledger.entries()?;
        // Recovery and history see only what the rule table admits: a deployment entry or an
        // emergency stop signed by a role that may not write it changes nothing here either.
        let (state, admitted) = State::replay_admitted(&entries);
        let past = Arc::new(history::replay(admitted));
        let committer = GroupCommitter::new(Arc::new(opts.ledger))?;
        let core = Arc::new(core::Core::new(
            opts.config,
            opts.driver,
            committer,
            opts.system,
            opts.operator,
            opts.gantry_dir.join("logs"),
            state.ledger.entries + 1,
        ));
        let (killed, adopted) = recovery::reclaim_orphans(&core, &state).await;
        for t in targets::targets(&core.config()) {
            core.driver.open(&t.name, t.listen.0)?;
        }
        let stop_owners = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let owners = recovery::seeds(&core, &state)
            .into_iter()
            .map(|(name, seed)| {
                let handle = owner::spawn(
                    name.clone(),
                    Arc::clone(&core),
                    Arc::clone(&past),
                    seed,
                    &mut tasks,
                    stop_owners.clone(),
                );
                (name, handle)
            })
            .collect();
        let app = Arc::new(App {
            core,
            owners: std::sync::RwLock::new(owners),
            tasks: std::sync::Mutex::new(tasks),
            stop_scalers: stop_owners.child_token(),
            stop_owners,
            reloading: tokio::sync::Mutex::new(()),
            past,
            control: tokio::sync::Mutex::new(()),
            emergency: watch::Sender::new(state.services.emergency_stop),
            restored: watch::Sender::new(false),
            shutdown: tokio::sync::Notify::new(),
            stop_requested: std::sync::atomic::AtomicBool::new(false),
            events_done: tokio::sync::Notify::new(),
        });
        let pump = tokio::spawn(pump_events(Arc::clone(&app), opts.events));
        scale::spawn_all(&app);
        let mut body = serde_json::json!({"pid": std::process::id(),
            "services": targets::targets(&app.core.config()).into_iter().map(|t| (t.name, Value::String(t.listen.to_string()))).collect::<serde_json::Map<_, _>>()});
        if let Some(api) = api {
            body["api"] = api.to_string().into();
        }
        app.core.record(By::System, "control.started", body).await;
        {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                recovery::restore(&app, &state, killed, adopted).await;
                app.restored.send_replace(true);
            });
        }
        Ok(ControlPlane { app, pump })
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Waits until recovery has restored every service.
    pub async fn restored(&self) {
        self.app.wait_restored().await;
    }

    /// Stops every instance through the driver and records `control.stopped`.
    pub async fn shutdown(self) {
        self.app.stop_scalers.cancel();
        let app = self.app;
        let instances: usize = app
            .owners()
            .keys()
            .map(|s| app.core.driver.instances(s).len())
            .sum();
        app.core.driver.shutdown().await;
        // Let the pump hand the last instance events (stopped) to the owners, and the
        // owners record them, before exiting.
        app.events_done.notify_one();
        let _ = self.pump.await;
        app.stop_owners.cancel();
        let mut owners = std::mem::take(
            &mut *app
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        while owners.join_next().await.is_some() {}
        let by_operator = app
            .stop_requested
            .load(std::sync::atomic::Ordering::Acquire);
        app.core
            .record(
                if by_operator {
                    By::Operator
                } else {
                    By::System
                },
                "control.stopped",
                serde_json::json!({"pid": std::process::id(), "instances_stopped": instances,
                "reason": if by_operator { "gantry serve --stop" } else { "signal" }}),
            )
            .await;
    }
}

/// Runs the control plane until SIGTERM or Ctrl-C. `ready` gets the API address once it
/// is bound (and recovery has killed orphans and opened the services).
pub async fn run(opts: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<(), ServerError> {
    // Dropped only when this function returns: the lock outlives the last entry written.
    let lock = opts.lock;
    // Bound first, so a taken port fails before any orphan is touched; connections wait
    // in the backlog until the API serves.
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let store = gantry_access::TokenStore::new(&opts.core.gantry_dir);
    let gantry_dir = opts.core.gantry_dir.clone();
    let gantry_dir_parent = gantry_dir.parent().unwrap_or(&gantry_dir).to_path_buf();
    let env = reload::process_env();
    // Before anything starts: a target that does not resolve stops serve untouched.
    monitoring::validate(&opts.core.config, &env)?;
    let ledger_path = opts.core.ledger.path().to_path_buf();
    let plane = ControlPlane::start(opts.core, Some(addr)).await?;
    if let Err(e) = lock.set_api(addr) {
        // Only the description of the holder is lost; the lock itself is held.
        tracing::warn!(error = %e, "cannot write the API address into the lock file");
    }
    ready(addr);
    tracing::info!(%addr, "control plane listening");
    let app = Arc::clone(plane.app());
    let budgets = Arc::new(budgets::Budgets::new(ledger_path.clone()));
    let monitoring = monitoring::start(Arc::clone(&app), gantry_dir, env, budgets)?;
    tokio::spawn(reload_on_hangup(Arc::clone(&app), opts.config_path.clone()));
    let mcp = mcp_service(addr, &gantry_dir_parent);
    let pipelines = runs::Pipelines::new(opts.pipelines, gantry_dir_parent.clone(), ledger_path);
    let api = api::router(
        Arc::clone(&app),
        opts.token,
        store,
        monitoring,
        opts.config_path,
        mcp,
        pipelines,
    );
    let shutdown = async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            _ = app.shutdown.notified() => {}
        }
        tracing::info!("shutting down: stopping instances");
    };
    // The peer address is for the log line of a refused call.
    axum::serve(
        listener,
        api.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    plane.shutdown().await;
    Ok(())
}

/// `/mcp` for the API on `addr`, reading the project's gantry.yaml in `root`; without it
/// (the HTTP client cannot be built) the API still serves, and says why in the log.
fn mcp_service(addr: SocketAddr, root: &std::path::Path) -> Option<gantry_mcp::http::Service> {
    gantry_mcp::http::service(addr, root.join("gantry.yaml"))
        .inspect_err(|e| tracing::warn!(error = %e, "MCP over HTTP (/mcp) is not available"))
        .ok()
}

/// Hands each instance transition the driver reports to its service's owner, which
/// records it (and puts it on its deployment's timeline). The owners' queues are bounded:
/// a flood of events waits here rather than growing without limit.
async fn pump_events(app: Arc<App>, mut events: mpsc::Receiver<InstanceEvent>) {
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => forward(&app, ev).await,
                None => return,
            },
            _ = app.events_done.notified() => {
                while let Ok(ev) = events.try_recv() {
                    forward(&app, ev).await;
                }
                return;
            }
        }
    }
}

async fn forward(app: &App, ev: InstanceEvent) {
    match app.owners().get(&ev.service) {
        Some(owner) => {
            let _ = owner.tx.send(command::Command::Instance(ev)).await;
        }
        None => tracing::warn!(service = %ev.service, "instance event for an unknown service"),
    }
}

/// `SIGHUP` reloads gantry.yaml, as daemons do; the outcome goes to the log (and, when it
/// applied, to the ledger as `config.reloaded`).
async fn reload_on_hangup(app: Arc<App>, path: PathBuf) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: reload with `gantry reload`");
        return;
    };
    while hup.recv().await.is_some() {
        let outcome = match reload::load(&path, &reload::process_env()) {
            Ok((config, sha256)) => app.reload(config, sha256, By::System).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(r) => {
                tracing::info!(sha256 = %r.sha256, added = ?r.added, changed = ?r.changed, "SIGHUP: gantry.yaml reloaded")
            }
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: gantry.yaml not reloaded; the running config stays")
            }
        }
    }
}
