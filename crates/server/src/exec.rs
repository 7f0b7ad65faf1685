//! A deployment's executor as its owner's job: it drives instances through the driver
//! itself (so a held start never blocks the owner), reads the operator's requests from a
//! `watch`, and asks the owner for every other effect — safe points, traffic, phases —
//! which the owner applies, holds while paused, or refuses once the deployment is over.

use std::collections::BTreeMap;
use std::sync::Arc;

use gantry_config::Service;
use gantry_deploy::{Phase, Plan, Tally};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::command::{Ask, Command, Note, Refused};
use crate::core::{By, Core};
use crate::deployment::{Dep, Failure, Requests};

pub(crate) struct Exec {
    pub core: Arc<Core>,
    pub id: String,
    pub plan: Arc<Plan>,
    /// The service's settings as the deployment started with them.
    pub settings: Arc<Service>,
    owner: mpsc::Sender<Command>,
    requests: watch::Receiver<Requests>,
    pub cancel: CancellationToken,
    /// Analysis windows judged so far, for the deployment's summary.
    pub tally: Tally,
}

impl From<Refused> for Failure {
    fn from(_: Refused) -> Failure {
        Failure::Abort
    }
}

impl Exec {
    /// The handle `dep`'s job asks its owner (`owner`) through.
    pub(crate) fn new(core: Arc<Core>, dep: &Dep, owner: mpsc::Sender<Command>) -> Exec {
        Exec {
            core,
            id: dep.id.clone(),
            plan: Arc::clone(&dep.plan),
            settings: Arc::clone(&dep.settings),
            owner,
            requests: dep.requests.subscribe(),
            cancel: dep.cancel.clone(),
            tally: Tally::default(),
        }
    }

    pub(crate) fn requests(&self) -> Requests {
        *self.requests.borrow()
    }

    /// Waits until the operator's requests change (or forever, once the owner is gone).
    pub(crate) async fn requests_changed(&mut self) {
        if self.requests.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, Refused>>) -> Ask,
    ) -> Result<T, Refused> {
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Job {
            id: self.id.clone(),
            ask: make(tx),
        };
        self.owner.send(cmd).await.map_err(|_| Refused)?;
        rx.await.map_err(|_| Refused)?
    }

    /// A safe point: returns when the deployment may go on; refused once it is aborted.
    pub(crate) async fn gate(&self) -> Result<(), Refused> {
        self.ask(Ask::Gate).await
    }

    pub(crate) async fn shift(
        &self,
        weights: &BTreeMap<String, u32>,
        by_instances: bool,
        gated: bool,
    ) -> Result<(), Refused> {
        self.ask(|reply| Ask::Shift {
            weights: weights.clone(),
            by_instances,
            gated,
            reply,
        })
        .await
    }

    pub(crate) async fn preview(&self, version: Option<&str>, gated: bool) -> Result<(), Refused> {
        self.ask(|reply| Ask::Preview {
            version: version.map(str::to_string),
            gated,
            reply,
        })
        .await
    }

    pub(crate) async fn enter(
        &self,
        phase: Phase,
        by: By,
        extra: Value,
        text: String,
    ) -> Result<(), Refused> {
        self.ask(|reply| Ask::Enter {
            phase,
            by,
            extra,
            text,
            reply,
        })
        .await
    }

    pub(crate) async fn end(
        &self,
        phase: Phase,
        by: By,
        extra: Value,
        text: String,
        stable: Option<String>,
    ) -> Result<(), Refused> {
        self.ask(|reply| Ask::End {
            phase,
            by,
            extra,
            text,
            stable,
            reply,
        })
        .await
    }

    pub(crate) async fn record(
        &self,
        by: By,
        kind: &str,
        body: Value,
        text: String,
    ) -> Result<(), Refused> {
        self.ask(|reply| Ask::Record {
            by,
            kind: kind.to_string(),
            body,
            text,
            reply,
        })
        .await
    }

    /// See [`Ask::FailOver`].
    pub(crate) async fn fail_over(
        &self,
        failed: (Value, String),
        triggered: (Value, String),
        weights: BTreeMap<String, u32>,
    ) -> Result<(), Refused> {
        self.ask(|reply| Ask::FailOver {
            failed: failed.0,
            failed_text: failed.1,
            triggered: triggered.0,
            triggered_text: triggered.1,
            weights,
            reply,
        })
        .await
    }

    pub(crate) async fn note(&self, note: Note) -> Result<(), Refused> {
        self.ask(|reply| Ask::Note(note, reply)).await
    }

    pub(crate) async fn in_pause(&self, inside: bool) -> Result<(), Refused> {
        self.ask(|reply| Ask::InPause(inside, reply)).await
    }

    pub(crate) async fn take_promote(&self) -> Result<bool, Refused> {
        if self.requests().advance == 0 {
            return Ok(false);
        }
        self.ask(Ask::TakePromote).await
    }
}
