//! One deployment: its status, the operator's requests to it, and the task that executes
//! its plan — with analysis during pauses and rollback when the new version fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_deploy::{DeploymentStatus, Phase, Plan, Step, Tally, TimelineEvent, plan_rollback};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::app::{App, By};
use crate::pause::{Hold, PauseEnd, pause};

/// What the operator asked of a running deployment.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Requests {
    /// `promote` requests not yet used: each ends one pause (the current or the next).
    pub advance: u32,
    /// `promote --full`: skip every remaining step up to the promotion.
    pub full: bool,
    pub pause: bool,
    pub abort: bool,
    /// Abort without rolling back (emergency stop: everything is being stopped).
    pub emergency: bool,
}

pub struct Deployment {
    pub id: String,
    pub plan: Plan,
    status: Mutex<DeploymentStatus>,
    requests: Mutex<Requests>,
    pub(crate) wake: Notify,
    pub(crate) task: Mutex<Option<tokio::task::JoinHandle<()>>>,
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

    /// Records entry into `phase` (and sets it).
    pub(crate) async fn enter(&self, app: &App, phase: Phase, by: By, extra: Value, text: String) {
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

/// Executes `dep`'s plan to the end (success, rollback or abort).
pub(crate) async fn execute(app: Arc<App>, dep: Arc<Deployment>) {
    let outcome = run_steps(&app, &dep).await;
    match outcome {
        Ok(()) => {
            let (phase, text) = if dep.plan.strategy == "rollback" {
                (Phase::RolledBack, format!("rolled back to {}", dep.plan.to))
            } else {
                (
                    Phase::Succeeded,
                    format!("{} serves all traffic", dep.plan.to),
                )
            };
            dep.enter(&app, phase, By::System, json!({}), text).await;
            finish(&app, &dep, Some(dep.plan.to.clone()));
        }
        Err(Failure::Abort) if dep.requests().emergency => {
            dep.enter(
                &app,
                Phase::Aborted,
                By::Operator,
                json!({"reason": "emergency stop"}),
                "aborted by emergency stop".into(),
            )
            .await;
            finish(&app, &dep, None);
        }
        Err(Failure::Abort) => {
            let stable = roll_back(&app, &dep).await;
            dep.enter(
                &app,
                Phase::Aborted,
                By::Operator,
                json!({"reason": "aborted by the operator", "rolled_back_to": stable}),
                format!(
                    "aborted; traffic back on {}",
                    stable.as_deref().unwrap_or("nothing")
                ),
            )
            .await;
            finish(&app, &dep, stable);
        }
        Err(Failure::Failed { reason, figures }) => {
            dep.enter(
                &app,
                Phase::Failed,
                By::System,
                json!({"reason": reason}),
                format!("failed: {reason}"),
            )
            .await;
            if let Some(from) = dep.plan.from.clone() {
                let mut body = json!({
                    "id": dep.id, "service": dep.plan.service, "from": dep.plan.to,
                    "to": from, "reason": reason,
                });
                if let (Some(b), Some(Value::Object(f))) = (body.as_object_mut(), figures) {
                    b.extend(f);
                }
                app.record_for(
                    Some(&dep),
                    By::System,
                    "rollback.triggered",
                    body,
                    format!("rollback to {from} triggered"),
                )
                .await;
            }
            let stable = roll_back(&app, &dep).await;
            if let Some(to) = &stable {
                dep.enter(
                    &app,
                    Phase::RolledBack,
                    By::System,
                    json!({"to": to, "reason": reason}),
                    format!("rolled back to {to}"),
                )
                .await;
            }
            finish(&app, &dep, stable);
        }
    }
}

/// The deployment is over: the service's stable version is `stable` (if any).
fn finish(app: &App, dep: &Deployment, stable: Option<String>) {
    let mut svcs = app.svcs();
    let svc = svcs.entry(dep.plan.service.clone()).or_default();
    if let Some(v) = stable
        && svc.stable.as_deref() != Some(v.as_str())
    {
        if let Some(old) = svc.stable.take() {
            svc.history.retain(|h| *h != old);
            svc.history.push(old);
        }
        svc.history.retain(|h| *h != v);
        svc.stable = Some(v);
    }
    if svc.active.as_ref().is_some_and(|a| a.id == dep.id) {
        svc.active = None;
    }
}

/// Returns traffic to the version before the deployment and stops the others. Returns
/// the version serving afterwards.
async fn roll_back(app: &App, dep: &Deployment) -> Option<String> {
    let service = &dep.plan.service;
    let Some(stable) = dep.plan.from.clone() else {
        // A first deploy has nothing to return to: stop what it started.
        app.stop_version(service, &dep.plan.to, None).await;
        return None;
    };
    let n = app.service_config(service).map_or(1, |s| *s.instances);
    let plan = plan_rollback(
        service,
        &stable,
        n,
        &app.counts(service),
        dep.plan.progress_deadline_ms,
    );
    app.set_preview(service, None);
    match app.run_simple(Some(dep), &plan).await {
        Ok(()) => Some(stable),
        Err(e) => {
            tracing::error!(%service, error = %e, "rollback could not complete");
            Some(stable)
        }
    }
}

async fn run_steps(app: &App, dep: &Deployment) -> Result<(), Failure> {
    let service = dep.plan.service.clone();
    let config = app
        .service_config(&service)
        .map_err(|e| Failure::Failed {
            reason: e.to_string(),
            figures: None,
        })?
        .clone();
    let limit = config.analysis.as_ref().map_or(1, |a| *a.failure_limit);
    let mut tally = Tally::new(limit);
    let promote_at = dep
        .plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::Promote { .. }))
        .unwrap_or(dep.plan.steps.len());
    // Whether the pause just before the promotion was ended by the operator (then the
    // promotion is theirs, and signed by them).
    let mut operator_ended_pause = false;
    let mut full_recorded = false;
    for (i, step) in dep.plan.steps.iter().enumerate() {
        dep.with_status(|s| {
            s.step = i + 1;
            s.current = step.to_string();
        });
        let req = dep.requests();
        if req.abort {
            return Err(Failure::Abort);
        }
        if i == 0 {
            dep.enter(
                app,
                Phase::Progressing,
                By::System,
                json!({}),
                format!("progressing: {step}"),
            )
            .await;
        }
        if req.full && i < promote_at {
            if !full_recorded {
                full_recorded = true;
                dep.with_status(|s| s.waiting_for_promote = false);
                dep.enter(
                    app,
                    Phase::Progressing,
                    By::Operator,
                    json!({"promote": "full", "at_step": i + 1}),
                    "promote --full: remaining steps skipped".into(),
                )
                .await;
            }
            if skipped_by_full(&dep.plan, i, promote_at) {
                continue;
            }
        }
        match step {
            Step::Start { version, count } => {
                let deadline = Duration::from_millis(dep.plan.progress_deadline_ms);
                if let Err(reason) = app
                    .start_and_wait(&service, version, *count, deadline, || dep.requests().abort)
                    .await
                {
                    if dep.requests().abort {
                        return Err(Failure::Abort);
                    }
                    return Err(Failure::Failed {
                        reason,
                        figures: None,
                    });
                }
            }
            Step::Weights { weights } => app.shift(Some(dep), &service, weights).await,
            Step::Preview { version } => {
                let listen = match &config.strategy {
                    gantry_config::Strategy::BlueGreen(b) => b.preview_listen.as_ref().map(|l| l.0),
                    _ => None,
                };
                if let Some(listen) = listen
                    && let Err(e) = app.driver.open_preview(&service, listen)
                {
                    return Err(Failure::Failed {
                        reason: e.to_string(),
                        figures: None,
                    });
                }
                app.set_preview(&service, Some(version));
            }
            Step::Pause {
                millis,
                analyse,
                preview,
            } => {
                let hold = Hold {
                    millis: *millis,
                    analyse: *analyse,
                    preview: *preview,
                };
                let end = pause(app, dep, &config, hold, &mut tally).await?;
                operator_ended_pause = end == PauseEnd::Promoted;
                if end == PauseEnd::Promoted {
                    dep.enter(
                        app,
                        Phase::Progressing,
                        By::Operator,
                        json!({"promote": "step", "ended_step": i + 1, "ended": step.to_string()}),
                        format!(
                            "promote: step {}/{} ({step}) ended by the operator",
                            i + 1,
                            dep.plan.steps.len()
                        ),
                    )
                    .await;
                }
            }
            Step::Promote { version } => {
                app.set_preview(&service, None);
                let full = dep.requests().full;
                let (by, how) = if full {
                    (By::Operator, "full")
                } else if operator_ended_pause {
                    (By::Operator, "step")
                } else {
                    (By::System, "auto")
                };
                dep.enter(
                    app,
                    Phase::Promoted,
                    by,
                    json!({"promote": how}),
                    format!("{version} promoted"),
                )
                .await;
            }
            Step::Stop { version, count } => app.stop_version(&service, version, *count).await,
        }
    }
    Ok(())
}

/// Whether `promote --full` skips step `i` (before the promotion at `promote_at`): every
/// pause, and traffic steps that a later one before the promotion overrides — except in a
/// rolling update, whose weights follow the instances it starts and stops.
fn skipped_by_full(plan: &Plan, i: usize, promote_at: usize) -> bool {
    match &plan.steps[i] {
        Step::Pause { .. } => true,
        Step::Weights { .. } => {
            plan.strategy != "rolling"
                && plan.steps[i + 1..promote_at]
                    .iter()
                    .any(|s| matches!(s, Step::Weights { .. }))
        }
        _ => false,
    }
}
