//! The control plane's facade: what the API (and every other interface) calls. It holds
//! no deployment state: each call becomes a command to the owner of its service
//! ([`crate::owner`]) and returns the owner's answer; reads come from the owners'
//! published snapshots. Emergency stop and start go to every owner, sequenced here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use gantry_deploy::DeploymentStatus;
use tokio::sync::{Notify, oneshot, watch};

use crate::ServerError;
use crate::command::{Command, Reply};
pub use crate::core::By;
use crate::core::Core;
use crate::owner::Handle;

pub struct App {
    pub(crate) core: Arc<Core>,
    /// One owner per service; a reload adds owners for the services it adds.
    pub(crate) owners: std::sync::RwLock<BTreeMap<String, Handle>>,
    /// The owners' tasks (until shutdown), and what stops them.
    pub(crate) tasks: std::sync::Mutex<tokio::task::JoinSet<()>>,
    pub(crate) stop_owners: tokio_util::sync::CancellationToken,
    /// The scalers of services with `scaling:`; stopped first on shutdown, so that none
    /// starts an instance while the driver stops them all.
    pub(crate) stop_scalers: tokio_util::sync::CancellationToken,
    /// One reload at a time.
    pub(crate) reloading: tokio::sync::Mutex<()>,
    /// Deployments from before this start, replayed from the ledger (never changed).
    pub(crate) past: Arc<BTreeMap<String, DeploymentStatus>>,
    /// Sequences emergency stops and starts: one of them at a time goes to the owners.
    pub(crate) control: tokio::sync::Mutex<()>,
    /// The emergency stop of the whole control plane, as the coordinator last set it.
    pub(crate) emergency: watch::Sender<bool>,
    /// False until every owner has restored its service after the start.
    pub(crate) restored: watch::Sender<bool>,
    pub(crate) shutdown: Notify,
    /// `gantry serve --stop` asked for the shutdown (else a signal did).
    pub(crate) stop_requested: AtomicBool,
    pub(crate) events_done: Notify,
}

/// The owner is gone: the control plane is shutting down.
fn gone() -> ServerError {
    ServerError::Unavailable {
        reason: "the control plane is shutting down".into(),
        retry_after: None,
    }
}

impl App {
    pub(crate) fn owner(&self, service: &str) -> Result<Handle, ServerError> {
        self.core.service_config(service)?;
        self.owners().remove(service).ok_or_else(gone)
    }

    /// The owners as they are now (handles are cheap clones of channel ends).
    pub(crate) fn owners(&self) -> BTreeMap<String, Handle> {
        self.owners
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends a command to the owner of `service` (waiting while its queue is full) and
    /// waits for its answer.
    pub(crate) async fn ask<T>(
        &self,
        service: &str,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, ServerError> {
        let owner = self.owner(service)?;
        let (tx, rx) = oneshot::channel();
        let cmd = match crate::Caller::current() {
            Some(caller) => Command::From {
                caller,
                cmd: Box::new(make(tx)),
            },
            None => make(tx),
        };
        owner.tx.send(cmd).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Why the ledger cannot be written, once a write failed.
    pub fn ledger_failure(&self) -> Option<String> {
        self.core.ledger_failure()
    }

    pub(crate) async fn wait_restored(&self) {
        let mut rx = self.restored.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }
}
