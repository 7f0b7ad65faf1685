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
//! Concurrency, and why: every phase change of a deployment is "check, record, set" under
//! that deployment's transition lock, taken by operator operations and the executor alike,
//! so no operation lands after the deployment's end. The executor runs as an owned,
//! supervised task (a panic fails and rolls back the deployment; an emergency stop cancels
//! it where it is). Traffic reaches the driver only through [`App`]'s one publishing path,
//! which stamps the emergency stop on every write. An emergency stop closes the gate that
//! every instance start passes first. Until recovery has restored the services, and for
//! good once a ledger write failed, mutating calls are refused as unavailable (503).
//!
//! Attribution: entries that carry out an operator's request (deploy, promote, pause,
//! resume, abort, rollback, emergency stop, start) are signed by the `operator` role; what
//! the control plane observes or decides itself is signed by the system key (`gantry`).

pub(crate) mod api;
mod app;
mod caller;
mod control;
mod deployment;
mod error;
mod execute;
mod history;
mod lock;
mod ops;
mod pause;
mod ready;
mod recovery;
mod steps;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gantry_config::Config;
use gantry_deploy::{Driver, InstanceEvent};
use gantry_ledger::{GroupCommitter, Ledger, Signer};
use gantry_state::State;
use serde_json::Value;
use tokio::sync::mpsc;

pub use api::auth::{MIN_TOKEN_BYTES, Token};
pub use app::{App, By};
pub use caller::Caller;
pub use control::{Ps, ServiceView};
pub use error::{ApiError, ErrorCode, ServerError};
pub use lock::{Holder, LOCK_FILE, ServeLock};
pub use ops::{DeployRequest, RollbackRequest};

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
    /// The driver's instance transitions, each recorded as an `instance.*` entry.
    pub events: mpsc::UnboundedReceiver<InstanceEvent>,
}

/// Everything `gantry serve` needs, prepared by the binary.
pub struct ServeOptions {
    pub core: CoreOptions,
    /// Where the API listens (loopback; port 0 picks one).
    pub listen: SocketAddr,
    pub token: Token,
    /// Held for as long as the control plane runs; it gets the API address once bound.
    pub lock: ServeLock,
}

/// A running control plane without its HTTP API: what `gantry serve` wraps, and what the
/// in-process tests drive (every operation of the API is a method of [`App`]).
pub struct ControlPlane {
    app: Arc<App>,
    pump: tokio::task::JoinHandle<()>,
}

impl ControlPlane {
    /// Replays the ledger, reclaims the previous control plane's orphans, opens every
    /// service, records `control.started` (with `api`, when there is one) and starts
    /// restoring the services in the background; until that is done, mutating operations
    /// are refused as unavailable.
    pub async fn start(
        opts: CoreOptions,
        api: Option<SocketAddr>,
    ) -> Result<ControlPlane, ServerError> {
        let entries = opts.ledger.entries()?;
        // Recovery and history see only what the rule table admits: a deployment entry or an
        // emergency stop signed by a role that may not write it changes nothing here either.
        let (state, admitted) = State::replay_admitted(&entries);
        let past = history::replay(admitted);
        let committer = GroupCommitter::new(Arc::new(opts.ledger))?;
        let app = Arc::new(App::new(
            opts.config,
            opts.driver,
            committer,
            opts.system,
            opts.operator,
            opts.gantry_dir.join("logs"),
            state.ledger.entries + 1,
            state.services.emergency_stop,
        ));
        *app.past.lock().unwrap_or_else(|e| e.into_inner()) = past;
        recovery::seed(&app, &state);
        let pump = tokio::spawn(pump_events(Arc::clone(&app), opts.events));
        let (killed, adopted) = recovery::reclaim_orphans(&app, &state).await;
        for (name, svc) in &app.config.services {
            app.driver.open(name, svc.listen.0)?;
        }
        let mut body = serde_json::json!({"pid": std::process::id(),
            "services": app.config.services.iter().map(|(n, s)| (n.clone(), Value::String(s.listen.to_string()))).collect::<serde_json::Map<_, _>>()});
        if let Some(api) = api {
            body["api"] = api.to_string().into();
        }
        app.record(By::System, "control.started", body).await;
        {
            let restore = {
                let app = Arc::clone(&app);
                tokio::spawn(async move { recovery::restore(&app, &state, killed, adopted).await })
            };
            app.set_restore_task(restore.abort_handle());
            let app = Arc::clone(&app);
            // Done, failed or cancelled: mutating calls are taken from then on.
            tokio::spawn(async move {
                if let Err(e) = restore.await
                    && e.is_panic()
                {
                    tracing::error!("the restore after a restart panicked");
                }
                app.restored();
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
        let app = self.app;
        let instances: usize = app
            .config
            .services
            .keys()
            .map(|s| app.driver.instances(s).len())
            .sum();
        app.driver.shutdown().await;
        // Let the pump write the last instance entries (stopped) before exiting.
        app.events_done.notify_one();
        let _ = self.pump.await;
        let by_operator = app
            .stop_requested
            .load(std::sync::atomic::Ordering::Acquire);
        app.record(
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
    let ledger_path = opts.core.ledger.path().to_path_buf();
    let plane = ControlPlane::start(opts.core, Some(addr)).await?;
    if let Err(e) = lock.set_api(addr) {
        // Only the description of the holder is lost; the lock itself is held.
        tracing::warn!(error = %e, "cannot write the API address into the lock file");
    }
    ready(addr);
    tracing::info!(%addr, "control plane listening");
    let app = Arc::clone(plane.app());
    let api = api::router(Arc::clone(&app), opts.token, store, ledger_path);
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

/// Records each instance transition the driver reports.
async fn pump_events(app: Arc<App>, mut events: mpsc::UnboundedReceiver<InstanceEvent>) {
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => record_event(&app, ev).await,
                None => return,
            },
            _ = app.events_done.notified() => {
                while let Ok(ev) = events.try_recv() {
                    record_event(&app, ev).await;
                }
                return;
            }
        }
    }
}

async fn record_event(app: &App, ev: InstanceEvent) {
    let mut body = serde_json::Map::new();
    body.insert("service".into(), ev.service.clone().into());
    body.insert("version".into(), ev.version.clone().into());
    body.insert("instance".into(), ev.instance.clone().into());
    body.extend(ev.detail.clone());
    let active = app.svcs().get(&ev.service).and_then(|s| s.active.clone());
    let kind = ev.kind.ledger_kind();
    let text = format!(
        "instance {} ({}) {}",
        ev.instance,
        ev.version,
        kind.trim_start_matches("instance.")
    );
    app.record_for(
        active.as_deref(),
        By::System,
        kind,
        Value::Object(body),
        text,
    )
    .await;
}
