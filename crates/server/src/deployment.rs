//! One deployment as its service's owner holds it: its plan, its status and the
//! operator's requests to it. Only the owner changes them; its executor reads the
//! requests from a `watch` and asks the owner for everything else ([`crate::exec`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use gantry_config::Service;
use gantry_deploy::{DeploymentStatus, Phase, Plan};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What the operator asked of a running deployment, as its executor sees it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Requests {
    /// A `promote` not yet taken by the pause it was given in (never kept for a later one).
    pub advance: u32,
    /// `promote --full`: skip every remaining step up to the promotion.
    pub full: bool,
    pub pause: bool,
    pub abort: bool,
    /// The executor is in a pause step now: only then is a `promote` taken.
    pub in_pause: bool,
}

pub(crate) struct Dep {
    pub id: String,
    pub plan: Arc<Plan>,
    /// The service's settings as loaded when the deployment started: a config reload
    /// applies to the next deployment, never to this one.
    pub settings: Arc<Service>,
    pub status: DeploymentStatus,
    pub requests: watch::Sender<Requests>,
    /// Cancels its job where it is (an emergency stop).
    pub cancel: CancellationToken,
    /// Its executor has been handed the panic of an earlier one: a second panic is final.
    pub recovering: bool,
}

pub(crate) enum Failure {
    Abort,
    Failed {
        reason: String,
        figures: Option<Value>,
    },
}

impl Dep {
    pub(crate) fn new(id: String, plan: Plan, settings: Service) -> Dep {
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
            pause: None,
            plan_steps: plan.steps.iter().map(ToString::to_string).collect(),
            operator_paused: false,
            weights: BTreeMap::new(),
            reason: None,
            analysis: None,
            timeline: Vec::new(),
            approval: None,
        };
        Dep {
            id,
            plan: Arc::new(plan),
            settings: Arc::new(settings),
            status,
            requests: watch::Sender::new(Requests::default()),
            cancel: CancellationToken::new(),
            recovering: false,
        }
    }

    pub(crate) fn is_rollback(&self) -> bool {
        self.plan.strategy == "rollback"
    }

    pub(crate) fn requests(&self) -> Requests {
        *self.requests.borrow()
    }

    pub(crate) fn request(&self, f: impl FnOnce(&mut Requests)) {
        self.requests.send_modify(f);
    }

    /// The body of a `deployment.state.*` entry: who, what, and `extra`.
    pub(crate) fn body(&self, extra: Value) -> Value {
        let mut b = json!({
            "id": self.id, "service": self.plan.service, "from": self.plan.from,
            "to": self.plan.to, "strategy": self.plan.strategy,
        });
        if let (Some(b), Value::Object(extra)) = (b.as_object_mut(), extra) {
            b.extend(extra);
        }
        b
    }
}
