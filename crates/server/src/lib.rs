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
//! Attribution: entries that carry out an operator's request (deploy, promote, pause,
//! resume, abort, rollback, emergency stop, start) are signed by the `operator` role; what
//! the control plane observes or decides itself is signed by the system key (`gantry`).

mod api;
mod app;
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
pub use control::{Ps, ServiceView};
pub use error::ServerError;
pub use lock::{Holder, LOCK_FILE, ServeLock};
pub use ops::{DeployRequest, RollbackRequest};

/// Everything `gantry serve` needs, prepared by the binary.
pub struct ServeOptions {
    pub config: Config,
    pub ledger: Ledger,
    pub system: Signer,
    /// Signs operator-requested transitions (the system signer if the project has no
    /// operator key).
    pub operator: Signer,
    /// `.gantry/`: instance logs go under `logs/`.
    pub gantry_dir: PathBuf,
    /// Where the API listens (loopback; port 0 picks one).
    pub listen: SocketAddr,
    pub token: Token,
    /// Held for as long as the control plane runs; it gets the API address once bound.
    pub lock: ServeLock,
    /// Where instances run and how traffic reaches them (the binary picks the driver).
    pub driver: Arc<dyn Driver>,
    /// The driver's instance transitions, each recorded as an `instance.*` entry.
    pub events: mpsc::UnboundedReceiver<InstanceEvent>,
}

/// Runs the control plane until SIGTERM or Ctrl-C. `ready` gets the API address once it
/// is bound (and recovery has killed orphans and opened the services).
pub async fn run(opts: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<(), ServerError> {
    // Dropped only when this function returns: the lock outlives the last entry written.
    let lock = opts.lock;
    let entries = opts.ledger.entries()?;
    // Recovery and history see only what the rule table admits: a deployment entry or an
    // emergency stop signed by a role that may not write it changes nothing here either.
    let (state, admitted) = State::replay_admitted(&entries);
    let past = history::replay(admitted);
    let committer = GroupCommitter::new(Arc::new(opts.ledger))?;
    let (driver, events) = (opts.driver, opts.events);
    let app = Arc::new(App::new(
        opts.config,
        driver,
        committer,
        opts.system,
        opts.operator,
        opts.gantry_dir.join("logs"),
        state.ledger.entries + 1,
        state.services.emergency_stop,
    ));
    *app.past.lock().unwrap_or_else(|e| e.into_inner()) = past;
    let pump = tokio::spawn(pump_events(Arc::clone(&app), events));

    let (killed, adopted) = recovery::reclaim_orphans(&app, &state).await;
    for (name, svc) in &app.config.services {
        app.driver.open(name, svc.listen.0)?;
    }
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    if let Err(e) = lock.set_api(addr) {
        // Only the description of the holder is lost; the lock itself is held.
        tracing::warn!(error = %e, "cannot write the API address into the lock file");
    }
    app.record(
        By::System,
        "control.started",
        serde_json::json!({"api": addr.to_string(), "pid": std::process::id(),
            "services": app.config.services.iter().map(|(n, s)| (n.clone(), Value::String(s.listen.to_string()))).collect::<serde_json::Map<_, _>>()}),
    )
    .await;
    {
        let app = Arc::clone(&app);
        tokio::spawn(async move { recovery::restore(&app, &state, killed, adopted).await });
    }
    ready(addr);
    tracing::info!(%addr, "control plane listening");
    let api = api::router(Arc::clone(&app), opts.token);
    let shutdown = {
        let app = Arc::clone(&app);
        async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
                _ = app.shutdown.notified() => {}
            }
            tracing::info!("shutting down: stopping instances");
        }
    };
    // The peer address is for the log line of a refused call.
    axum::serve(
        listener,
        api.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    let instances: usize = app
        .config
        .services
        .keys()
        .map(|s| app.driver.instances(s).len())
        .sum();
    app.driver.shutdown().await;
    // Let the pump write the last instance entries (stopped) before exiting.
    app.events_done.notify_one();
    let _ = pump.await;
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
