//! One deployment: its status and the operator's requests to it. The task that executes
//! its plan is in [`crate::steps`], how it ends (success, rollback, abort) in
//! [`crate::execute`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use gantry_deploy::{DeploymentStatus, Phase, Plan, TimelineEvent};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::app::{App, By};

/// What the operator asked of a running deployment.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Requests {
    /// A `promote` not yet taken by the pause it was given in (never kept for a later one).
    pub advance: u32,
    /// `promote --full`: skip every remaining step up to the promotion.
    pub full: bool,
    pub pause: bool,
    pub abort: bool,
    /// Abort without rolling back (emergency stop: everything is being stopped).
    pub emergency: bool,
    /// The executor is in a pause step now: only then is a `promote` taken.
    pub in_pause: bool,
}

pub struct Deployment {
    pub id: String,
    pub plan: Plan,
    status: Mutex<DeploymentStatus>,
    requests: Mutex<Requests>,
    pub(crate) wake: Notify,
    /// The supervised task executing the plan, and how to cancel it where it is.
    pub(crate) task: Mutex<Option<Task>>,
    /// Held across "check the phase, record, set the phase", by operator operations and by
    /// the executor alike: a pause can then never be written after `succeeded`.
    pub(crate) transition: tokio::sync::Mutex<()>,
}

/// A running deployment task: `cancel` stops the executor at its next await point (an
/// emergency stop); `done` ends once its supervisor has settled it.
pub(crate) struct Task {
    pub cancel: tokio::task::AbortHandle,
    pub done: tokio::task::JoinHandle<()>,
}

pub(crate) enum Failure {
    Abort,
    Failed {
        reason: String,
        figures: Option<Value>,
    },
}

impl Deployment {
    pub(crate) fn new(id: String, plan: Plan) -> Deployment {
        let status = DeploymentStatus {
            id: id.clone(),
            service: plan.service.clone(),
            from: plan.from.clone(),
            to: plan.to.clone(),
            strategy: plan.strategy.clone(),
            phase: Phase::Started,
            step: 0,
            steps: plan.steps.len(),
            current: String::new(),
            waiting_for_promote: false,
            operator_paused: false,
            weights: BTreeMap::new(),
            reason: None,
            analysis: None,
            timeline: Vec::new(),
        };
        Deployment {
            id,
            plan,
            status: Mutex::new(status),
            requests: Mutex::new(Requests::default()),
            wake: Notify::new(),
            task: Mutex::new(None),
            transition: tokio::sync::Mutex::new(()),
        }
    }

    pub fn status(&self) -> DeploymentStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn with_status(&self, f: impl FnOnce(&mut DeploymentStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub(crate) fn requests(&self) -> Requests {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn request(&self, f: impl FnOnce(&mut Requests)) {
        f(&mut self.requests.lock().unwrap_or_else(|e| e.into_inner()));
        self.wake.notify_waiters();
    }

    pub(crate) fn push_timeline(&self, e: TimelineEvent) {
        self.with_status(|s| s.timeline.push(e));
    }

    pub(crate) fn set_weights(&self, w: BTreeMap<String, u32>) {
        self.with_status(|s| s.weights = w);
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.with_status(|s| s.phase = phase);
    }

    fn body(&self, extra: Value) -> Value {
        let mut b = json!({
            "id": self.id, "service": self.plan.service, "from": self.plan.from,
            "to": self.plan.to, "strategy": self.plan.strategy,
        });
        if let (Some(b), Value::Object(extra)) = (b.as_object_mut(), extra) {
            b.extend(extra);
        }
        b
    }

    /// Records entry into `phase` (and sets it), after any operator operation in progress.
    pub(crate) async fn enter(&self, app: &App, phase: Phase, by: By, extra: Value, text: String) {
        let _t = self.transition.lock().await;
        self.enter_held(app, phase, by, extra, text).await;
    }

    /// [`Deployment::enter`] for a caller that holds `transition`.
    pub(crate) async fn enter_held(
        &self,
        app: &App,
        phase: Phase,
        by: By,
        extra: Value,
        text: String,
    ) {
        if let Some(r) = extra.get("reason").and_then(Value::as_str) {
            let r = r.to_string();
            self.with_status(|s| s.reason = Some(r));
        }
        // Recorded first, so whoever sees the new phase also sees its timeline entry.
        app.record_for(Some(self), by, &phase.ledger_kind(), self.body(extra), text)
            .await;
        self.set_phase(phase);
    }
}
