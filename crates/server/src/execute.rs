//! How a deployment ends: success, rollback to the stable version after a failure (with
//! the figures that triggered it), or abort; and the service's stable version afterwards.

use std::sync::Arc;

use gantry_deploy::{Phase, plan_rollback};
use serde_json::{Value, json};

use crate::app::{App, By};
use crate::deployment::{Deployment, Failure, Task};
use crate::steps::run_steps;

/// Runs `dep` as a supervised task: the executor in its own task (cancelled where it is by
/// an emergency stop), and a supervisor that catches its panic — the deployment is then
/// failed and rolled back, and the service is free for the next operation.
pub(crate) fn spawn(app: &Arc<App>, dep: &Arc<Deployment>) {
    let work = tokio::spawn(execute(Arc::clone(app), Arc::clone(dep)));
    let cancel = work.abort_handle();
    let done = tokio::spawn(supervise(Arc::clone(app), Arc::clone(dep), work));
    *dep.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(Task { cancel, done });
}

async fn supervise(app: Arc<App>, dep: Arc<Deployment>, work: tokio::task::JoinHandle<()>) {
    let Err(e) = work.await else { return };
    // Cancelled: the emergency stop that cancelled it settles it.
    let Ok(panic) = e.try_into_panic() else {
        return;
    };
    let what = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "no message".into());
    let reason = format!("the deployment task panicked: {what}");
    tracing::error!(deployment = %dep.id, %reason);
    // In a task of its own, so that a second panic (in the rollback) is caught as well.
    let settle = tokio::spawn(fail_and_roll_back(
        Arc::clone(&app),
        Arc::clone(&dep),
        reason,
        None,
    ));
    if let Err(e) = settle.await
        && e.is_panic()
    {
        tracing::error!(deployment = %dep.id, "rolling back after a panic panicked too");
        dep.enter(
            &app,
            Phase::Failed,
            By::System,
            json!({"reason": "the deployment task and its rollback panicked"}),
            "failed: the deployment task and its rollback panicked".into(),
        )
        .await;
        finish(&app, &dep, dep.plan.from.clone());
    }
}

/// Executes `dep`'s plan to the end (success, rollback or abort).
async fn execute(app: Arc<App>, dep: Arc<Deployment>) {
    let outcome = run_steps(&app, &dep).await;
    match outcome {
        Ok(transition) => {
            let (phase, text) = if dep.plan.strategy == "rollback" {
                (Phase::RolledBack, format!("rolled back to {}", dep.plan.to))
            } else {
                (
                    Phase::Succeeded,
                    format!("{} serves all traffic", dep.plan.to),
                )
            };
            dep.enter_held(&app, phase, By::System, json!({}), text)
                .await;
            finish(&app, &dep, Some(dep.plan.to.clone()));
            drop(transition);
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
            fail_and_roll_back(Arc::clone(&app), Arc::clone(&dep), reason, figures).await;
        }
    }
}

/// Records the failure (with the measured figures, also on the rollback it triggers) and
/// returns traffic to the stable version.
async fn fail_and_roll_back(
    app: Arc<App>,
    dep: Arc<Deployment>,
    reason: String,
    figures: Option<Value>,
) {
    let mut failed = json!({"reason": reason});
    if let (Some(b), Some(Value::Object(f))) = (failed.as_object_mut(), figures.clone()) {
        b.extend(f);
    }
    dep.enter(
        &app,
        Phase::Failed,
        By::System,
        failed,
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

/// The deployment is over: the service's stable version is `stable` (if any).
pub(crate) fn finish(app: &App, dep: &Deployment, stable: Option<String>) {
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
