//! How a deployment's job ends: success, rollback to the stable version after a failure
//! (with the figures that triggered it), or abort. The job asks its owner to record each
//! end; the owner then sets the service's stable version.

use std::time::Duration;

use gantry_deploy::{Phase, Plan, Progress, Step, plan_rollback};
use serde_json::{Value, json};

use crate::core::By;
use crate::deployment::Failure;
use crate::exec::Exec;
use crate::ready::{Guard, Rollout};
use crate::steps::run_steps;

/// The job of a deployment: executes its plan to its end.
pub(crate) async fn execute(mut exec: Exec) {
    let outcome = run_steps(&mut exec).await;
    match outcome {
        Ok(()) => {
            let (phase, text) = if exec.plan.strategy == "rollback" {
                (
                    Phase::RolledBack,
                    format!("rolled back to {}", exec.plan.to),
                )
            } else {
                (
                    Phase::Succeeded,
                    format!("{} serves all traffic", exec.plan.to),
                )
            };
            let to = Some(exec.plan.to.clone());
            // The summary says on how much evidence it got here.
            let (extra, text) = if exec.tally.windows > 0 {
                (
                    json!({"analysis_windows": {"judged": exec.tally.windows, "passed": exec.tally.passes}}),
                    format!("{text}; {}", exec.tally.summary()),
                )
            } else {
                (json!({}), text)
            };
            // Refused: an abort overtook the end (held by the operator's pause).
            if exec.end(phase, By::System, extra, text, to).await.is_err() && exec.requests().abort
            {
                abort(&exec).await;
            }
        }
        Err(Failure::Abort) if exec.requests().abort => abort(&exec).await,
        // Refused by an owner that ended the deployment itself (an emergency stop).
        Err(Failure::Abort) => {}
        Err(Failure::Failed { reason, figures }) => {
            fail_and_roll_back(&exec, reason, figures).await;
        }
    }
}

async fn abort(exec: &Exec) {
    let stable = roll_back(exec).await;
    let _ = exec
        .end(
            Phase::Aborted,
            By::Operator,
            json!({"reason": "aborted by the operator", "rolled_back_to": stable}),
            format!(
                "aborted; traffic back on {}",
                stable.as_deref().unwrap_or("nothing")
            ),
            stable,
        )
        .await;
}

/// Records the failure (with the measured figures, also on the rollback it triggers) and
/// returns traffic to the stable version. Also what the owner runs for a deployment whose
/// job panicked.
pub(crate) async fn fail_and_roll_back(exec: &Exec, reason: String, figures: Option<Value>) {
    let mut failed = json!({"reason": reason});
    if let (Some(b), Some(Value::Object(f))) = (failed.as_object_mut(), figures.clone()) {
        b.extend(f);
    }
    let Some(from) = exec.plan.from.clone() else {
        // A first deploy has nothing to return to: stop what it started, then end.
        roll_back(exec).await;
        let _ = exec
            .end(
                Phase::Failed,
                By::System,
                failed,
                format!("failed: {reason}"),
                None,
            )
            .await;
        return;
    };
    let mut body = json!({
        "id": exec.id, "service": exec.plan.service, "from": exec.plan.to,
        "to": from, "reason": reason,
    });
    if let (Some(b), Some(Value::Object(f))) = (body.as_object_mut(), figures) {
        b.extend(f);
    }
    let failed = (failed, format!("failed: {reason}"));
    let triggered = (body, format!("rollback to {from} triggered"));
    let plan = rollback_plan(exec, &from);
    let stable = if let Some(Step::Weights { weights }) = plan.steps.first() {
        // The stable version is ready: its traffic back first, the evidence in one write.
        let _ = exec.fail_over(failed, triggered, weights.clone()).await;
        let rest = Plan {
            steps: plan.steps[1..].to_vec(),
            ..plan
        };
        finish_rollback(exec, &rest).await;
        Some(from.clone())
    } else {
        let _ = exec
            .enter(Phase::Failed, By::System, failed.0, failed.1)
            .await;
        let _ = exec
            .record(By::System, "rollback.triggered", triggered.0, triggered.1)
            .await;
        roll_back(exec).await
    };
    let _ = exec
        .end(
            Phase::RolledBack,
            By::System,
            json!({"to": from, "reason": reason}),
            format!("rolled back to {from}"),
            stable,
        )
        .await;
}

/// The plan that returns `service` to `stable` from the instances running now.
fn rollback_plan(exec: &Exec, stable: &str) -> Plan {
    let service = &exec.plan.service;
    let n = *exec.settings.instances;
    plan_rollback(
        service,
        stable,
        n,
        &exec.core.counts(service),
        exec.plan.progress_deadline_ms,
    )
}

/// Clears a preview route and runs a rollback plan to its end.
async fn finish_rollback(exec: &Exec, plan: &Plan) {
    let _ = exec.preview(None, false).await;
    if let Err(e) = run_plan(exec, plan).await {
        tracing::error!(service = %plan.service, error = %e, "rollback could not complete");
    }
}

/// Returns traffic to the version before the deployment and stops the others. Returns
/// the version serving afterwards. Not held by a pause: a rollback runs to its end (an
/// emergency stop cancels it where it is).
async fn roll_back(exec: &Exec) -> Option<String> {
    let service = &exec.plan.service;
    let Some(stable) = exec.plan.from.clone() else {
        exec.core.stop_version(service, &exec.plan.to, None).await;
        return None;
    };
    finish_rollback(exec, &rollback_plan(exec, &stable)).await;
    Some(stable)
}

/// Executes the instance and traffic steps of a rollback plan, under one progress
/// deadline.
async fn run_plan(exec: &Exec, plan: &Plan) -> Result<(), String> {
    let mut rollout = Rollout::new(Duration::from_millis(plan.progress_deadline_ms));
    for step in &plan.steps {
        match step {
            Step::Start { version, count } => exec
                .core
                .start_under(
                    &plan.service,
                    version,
                    *count,
                    &[],
                    &mut rollout,
                    &Guard::Token(&exec.cancel),
                )
                .await
                .map_err(|e| e.reason)?,
            Step::Weights { weights } => exec
                .shift(weights, plan.weights_count_instances(), false)
                .await
                .map_err(|_| "the deployment ended".to_string())?,
            Step::Stop { version, count } => {
                exec.core.stop_version(&plan.service, version, *count).await;
                rollout.observe(Progress::ScaledDown);
            }
            Step::Preview { .. } | Step::Pause { .. } | Step::Promote { .. } => {}
        }
    }
    Ok(())
}
