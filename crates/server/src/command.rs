//! What a service's owner is asked to do. The API's operations, the coordinator's
//! emergency stop, start and restore, the driver's instance events, and the owner's own
//! jobs (a deployment's executor, a rollback) all reach it as commands on one bounded
//! queue; each is answered on its `oneshot` once applied, or refused with the reason.

use std::collections::BTreeMap;

use gantry_config::StrategyKind;
use gantry_deploy::{DeploymentStatus, InstanceEvent, LastAnalysis, Op, PauseView, Phase};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::ServerError;
use crate::core::By;
use crate::ops::RollbackRequest;

/// How many commands may wait for one owner before senders wait (back-pressure).
pub(crate) const QUEUE: usize = 256;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ServerError>>;

pub(crate) enum Command {
    Deploy {
        version: String,
        strategy: Option<StrategyKind>,
        reply: Reply<DeploymentStatus>,
    },
    Operate {
        op: Op,
        reply: Reply<DeploymentStatus>,
    },
    Rollback {
        req: RollbackRequest,
        reply: Reply<Value>,
    },
    Control(Control),
    /// A transition the driver reports, recorded as `instance.*`.
    Instance(InstanceEvent),
    /// A command made on behalf of an API caller: the entries it writes as the operator
    /// name the caller's role and token ([`crate::Caller`]).
    From {
        caller: crate::Caller,
        cmd: Box<Command>,
    },
    /// From a job of this owner, for the deployment `id` (refused if it is not the active
    /// one any more: an emergency stop or an abort ended it).
    Job {
        id: String,
        ask: Ask,
    },
    /// From the service's scaler ([`crate::scale`]): run `to` instances of the stable
    /// version instead of `from`.
    Scale(ScaleRequest),
}

/// A scaling step the scaler asks for, with the measurement it rests on.
pub(crate) struct ScaleRequest {
    pub version: String,
    pub from: u32,
    pub to: u32,
    /// Average CPU of the measured instances, in percent of their CPU limit.
    pub cpu_percent: f64,
    /// How many instances were measured.
    pub measured: u32,
    pub target_percent: f64,
    /// Answered when the instances are started and ready, or drained and stopped; Err:
    /// why the step was not taken (held) or failed.
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// Sequenced over every owner by the control-plane-wide coordinator ([`crate::App`]).
pub(crate) enum Control {
    /// Emergency stop: final for everything in flight. Answers what was stopped.
    Stop { reply: oneshot::Sender<Stopped> },
    /// After an emergency stop: start the stable version's missing instances and wait
    /// until they are ready (traffic stays refused until [`Control::Reopen`]). Answers
    /// `"service version"`, or `None` for a service without a stable version.
    StartInstances { reply: Reply<Option<String>> },
    /// Traffic back on the stable version: the emergency stop is over.
    Reopen { reply: oneshot::Sender<()> },
    /// A start that failed elsewhere: no instance may start again until the next start.
    Halt { reply: oneshot::Sender<()> },
    /// After a restart: settle the interrupted deployment, bring the stable version back,
    /// resume a deployment with `on_restart: resume`.
    Restore {
        plan: Box<RestorePlan>,
        reply: oneshot::Sender<Restored>,
    },
}

/// A deployment the restart interrupted, as the ledger has it.
pub(crate) struct Interrupted {
    pub id: String,
    pub from: Option<String>,
    pub to: String,
    pub strategy: String,
    /// It was waiting for its environment's approval (nothing started).
    pub approval: Option<gantry_state::ApprovalView>,
}

pub(crate) struct RestorePlan {
    pub interrupted: Option<Interrupted>,
    /// Instances reclaiming adopted (already running).
    pub adopted: Vec<String>,
    /// The ledger ends in an emergency stop: nothing is started.
    pub emergency: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Stopped {
    pub instances: usize,
    pub aborted: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Restored {
    pub settled: Vec<Value>,
    pub restored: Vec<String>,
}

/// The deployment's job was refused: its deployment is over (abort, emergency stop) or
/// the owner is gone. The job ends where it is.
#[derive(Debug)]
pub(crate) struct Refused;

/// What a job asks its owner. The gated ones (`gated: true`, and entering `promoted` or
/// `succeeded`) are held while the operator's pause lasts and refused once the deployment
/// is aborted: they are the deployment's effects, and a pause holds every one of them.
pub(crate) enum Ask {
    /// A safe point: answered when the deployment may go on (held while paused).
    Gate(oneshot::Sender<Result<(), Refused>>),
    Shift {
        weights: BTreeMap<String, u32>,
        by_instances: bool,
        gated: bool,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    Preview {
        version: Option<String>,
        gated: bool,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    Enter {
        phase: Phase,
        by: By,
        extra: Value,
        text: String,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    /// The deployment's last transition: recorded, and the service's stable version is
    /// `stable` from then on.
    End {
        phase: Phase,
        by: By,
        extra: Value,
        text: String,
        stable: Option<String>,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    /// Any other entry on the deployment's timeline (`rollback.triggered`).
    Record {
        by: By,
        kind: String,
        body: Value,
        text: String,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    /// A failed deployment whose stable version is ready to take all traffic: the
    /// traffic moves back at once, then `failed`, `rollback.triggered` and the shift are
    /// recorded in that order as one write (the disk does not stand between a failing
    /// version and its way out).
    FailOver {
        failed: Value,
        failed_text: String,
        triggered: Value,
        triggered_text: String,
        weights: BTreeMap<String, u32>,
        reply: oneshot::Sender<Result<(), Refused>>,
    },
    Note(Note, oneshot::Sender<Result<(), Refused>>),
    /// The executor enters (true) or leaves a pause step: only inside one is a `promote`
    /// taken, and one given too late is not kept for the next.
    InPause(bool, oneshot::Sender<Result<(), Refused>>),
    /// Takes one pending `promote`.
    TakePromote(oneshot::Sender<Result<bool, Refused>>),
}

impl Ask {
    /// Whether an operator's pause holds it.
    pub(crate) fn gated(&self) -> bool {
        match self {
            Ask::Gate(_) => true,
            Ask::Shift { gated, .. } | Ask::Preview { gated, .. } => *gated,
            Ask::Enter { phase, .. } => *phase == Phase::Promoted,
            Ask::End { phase, .. } => *phase == Phase::Succeeded,
            _ => false,
        }
    }

    /// Refuses it (the deployment is over, or aborted).
    pub(crate) fn refuse(self) {
        match self {
            Ask::Gate(r)
            | Ask::Shift { reply: r, .. }
            | Ask::Preview { reply: r, .. }
            | Ask::Enter { reply: r, .. }
            | Ask::End { reply: r, .. }
            | Ask::Record { reply: r, .. }
            | Ask::FailOver { reply: r, .. }
            | Ask::Note(_, r)
            | Ask::InPause(_, r) => {
                let _ = r.send(Err(Refused));
            }
            Ask::TakePromote(r) => {
                let _ = r.send(Err(Refused));
            }
        }
    }
}

/// Status the executor reports as it goes.
pub(crate) enum Note {
    Step {
        index: usize,
        current: String,
    },
    WaitingForPromote(bool),
    Analysis(LastAnalysis),
    /// The pause step it is in (`None`: out of it).
    Pause(Option<PauseView>),
}
