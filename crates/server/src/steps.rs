//! Executing a deployment's plan step by step: instances started under the progress
//! deadline, traffic shifts, pauses under analysis, promotion, and `promote --full`.

use std::time::Duration;

use gantry_deploy::{Phase, Plan, Progress, Step, Tally};
use serde_json::json;

use crate::app::{App, By};
use crate::deployment::{Deployment, Failure};
use crate::pause::{Hold, PauseEnd, pause};
use crate::ready::{Gate, Rollout};

/// Runs every step; on success returns the transition lock, taken at a moment when the
/// operator has not paused the deployment, so its end is recorded before any later pause.
pub(crate) async fn run_steps<'d>(
    app: &App,
    dep: &'d Deployment,
) -> Result<tokio::sync::MutexGuard<'d, ()>, Failure> {
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
    // One progress deadline for the whole rollout, Kubernetes-style: it fails after going
    // the deadline without progress, not when a batch or the rollout takes longer.
    let mut rollout = Rollout::new(Duration::from_millis(dep.plan.progress_deadline_ms));
    for (i, step) in dep.plan.steps.iter().enumerate() {
        dep.with_status(|s| {
            s.step = i + 1;
            s.current = step.to_string();
        });
        if i == 0 {
            // Not over an operator's pause that came before the first step.
            let _t = dep.transition.lock().await;
            if dep.status().phase == Phase::Started {
                dep.enter_held(
                    app,
                    Phase::Progressing,
                    By::System,
                    json!({}),
                    format!("progressing: {step}"),
                )
                .await;
            }
        }
        safe_point(app, dep, &mut rollout).await?;
        let req = dep.requests();
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
                let gate = || {
                    let req = dep.requests();
                    if req.abort || app.halted() {
                        Gate::Cancelled
                    } else if req.pause {
                        Gate::Paused
                    } else {
                        Gate::Go
                    }
                };
                if let Err(e) = app
                    .start_under(&service, version, *count, &[], &mut rollout, gate)
                    .await
                {
                    if dep.requests().abort {
                        return Err(Failure::Abort);
                    }
                    return Err(Failure::Failed {
                        reason: e.reason,
                        figures: e.figures,
                    });
                }
            }
            Step::Weights { weights } => {
                let by_instances = dep.plan.weights_count_instances();
                app.shift(Some(dep), &service, weights, by_instances).await
            }
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
                // A hold is not measured against the progress deadline (Kubernetes does not
                // count a paused rollout either); its end counts as progress.
                rollout.observe(Progress::Paused);
                let end = pause(app, dep, &config, hold, &mut tally).await?;
                rollout.observe(Progress::Resumed);
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
            Step::Stop { version, count } => {
                app.stop_version(&service, version, *count).await;
                if *version != dep.plan.to {
                    rollout.observe(Progress::ScaledDown);
                }
            }
        }
    }
    loop {
        safe_point(app, dep, &mut rollout).await?;
        let t = dep.transition.lock().await;
        if !dep.requests().pause {
            return Ok(t);
        }
    }
}

/// A safe point between two steps (and before each instance a step starts): while the
/// operator's pause lasts, no instance is started, no weight changed, nothing scaled down.
/// The pause is not measured against the progress deadline. Abort and emergency stop end
/// the wait (and the deployment).
pub(crate) async fn safe_point(
    app: &App,
    dep: &Deployment,
    rollout: &mut Rollout,
) -> Result<(), Failure> {
    let mut held = false;
    let out = loop {
        let r = dep.requests();
        if r.abort || app.halted() {
            break Err(Failure::Abort);
        }
        if !r.pause {
            break Ok(());
        }
        if !held {
            held = true;
            rollout.observe(Progress::Paused);
        }
        // The tick covers a wake-up sent between the check and the wait.
        tokio::select! {
            _ = dep.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    };
    if held {
        rollout.observe(Progress::Resumed);
    }
    out
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
