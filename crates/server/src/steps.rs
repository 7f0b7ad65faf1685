//! Executing a deployment's plan step by step: instances started under the progress
//! deadline, traffic shifts, pauses under analysis, promotion, and `promote --full`.

use std::time::Duration;

use gantry_deploy::{Phase, Plan, Progress, Step, Tally};
use serde_json::json;

use crate::command::Note;
use crate::core::By;
use crate::deployment::Failure;
use crate::exec::Exec;
use crate::pause::{Hold, PauseEnd, pause};
use crate::ready::{Guard, Rollout};

/// Runs every step. Its end (`succeeded`) is the caller's to ask for: the owner holds that
/// too while the operator's pause lasts, so nothing is recorded after it.
pub(crate) async fn run_steps(exec: &mut Exec) -> Result<(), Failure> {
    let plan = std::sync::Arc::clone(&exec.plan);
    let service = plan.service.clone();
    let config = std::sync::Arc::clone(&exec.settings);
    let limit = config.analysis.as_ref().map_or(1, |a| *a.failure_limit);
    let mut tally = Tally::new(limit);
    let promote_at = plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::Promote { .. }))
        .unwrap_or(plan.steps.len());
    // Whether the pause just before the promotion was ended by the operator (then the
    // promotion is theirs, and signed by them).
    let mut operator_ended_pause = false;
    let mut full_recorded = false;
    // One progress deadline for the whole rollout, Kubernetes-style: it fails after going
    // the deadline without progress, not when a batch or the rollout takes longer.
    let mut rollout = Rollout::new(Duration::from_millis(plan.progress_deadline_ms));
    for (i, step) in plan.steps.iter().enumerate() {
        exec.note(Note::Step {
            index: i + 1,
            current: step.to_string(),
        })
        .await?;
        if i == 0 {
            // The owner records it only from `started`: not over an operator's pause that
            // came before the first step.
            exec.enter(
                Phase::Progressing,
                By::System,
                json!({}),
                format!("progressing: {step}"),
            )
            .await?;
        }
        safe_point(exec, &mut rollout).await?;
        let req = exec.requests();
        if req.full && i < promote_at {
            if !full_recorded {
                full_recorded = true;
                exec.note(Note::WaitingForPromote(false)).await?;
                exec.enter(
                    Phase::Progressing,
                    By::Operator,
                    json!({"promote": "full", "at_step": i + 1}),
                    "promote --full: remaining steps skipped".into(),
                )
                .await?;
            }
            if skipped_by_full(&plan, i, promote_at) {
                continue;
            }
        }
        match step {
            Step::Start { version, count } => {
                if let Err(e) = exec
                    .core
                    .start_under(
                        &service,
                        version,
                        *count,
                        &[],
                        &mut rollout,
                        &Guard::Owner(exec),
                    )
                    .await
                {
                    if exec.requests().abort || exec.cancel.is_cancelled() {
                        return Err(Failure::Abort);
                    }
                    return Err(Failure::Failed {
                        reason: e.reason,
                        figures: e.figures,
                    });
                }
            }
            Step::Weights { weights } => {
                let by_instances = plan.weights_count_instances();
                exec.shift(weights, by_instances, true).await?;
            }
            Step::Preview { version } => {
                let listen = match &config.strategy {
                    gantry_config::Strategy::BlueGreen(b) => b.preview_listen.as_ref().map(|l| l.0),
                    _ => None,
                };
                if let Some(listen) = listen
                    && let Err(e) = exec.core.driver.open_preview(&service, listen)
                {
                    return Err(Failure::Failed {
                        reason: e.to_string(),
                        figures: None,
                    });
                }
                exec.preview(Some(version), true).await?;
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
                let end = pause(exec, &config, hold, &mut tally).await?;
                rollout.observe(Progress::Resumed);
                operator_ended_pause = end == PauseEnd::Promoted;
                if end == PauseEnd::Promoted {
                    let (body, text) = promoted_by_hand(
                        i,
                        plan.steps.len(),
                        step,
                        (*analyse && config.analysis.is_some()).then_some(&tally),
                    );
                    exec.enter(Phase::Progressing, By::Operator, body, text)
                        .await?;
                }
            }
            Step::Promote { version } => {
                exec.preview(None, true).await?;
                let full = exec.requests().full;
                let (by, how) = if full {
                    (By::Operator, "full")
                } else if operator_ended_pause {
                    (By::Operator, "step")
                } else {
                    (By::System, "auto")
                };
                exec.enter(
                    Phase::Promoted,
                    by,
                    json!({"promote": how}),
                    format!("{version} promoted"),
                )
                .await?;
            }
            Step::Stop { version, count } => {
                exec.core.stop_version(&service, version, *count).await;
                if *version != plan.to {
                    rollout.observe(Progress::ScaledDown);
                }
            }
        }
    }
    safe_point(exec, &mut rollout).await
}

/// A safe point between two steps (and before each instance a step starts): the owner
/// answers it only when the operator's pause is over, so meanwhile no instance is started,
/// no weight changed, nothing scaled down. The pause is not measured against the progress
/// deadline. Abort and emergency stop end the wait (and the deployment).
pub(crate) async fn safe_point(exec: &Exec, rollout: &mut Rollout) -> Result<(), Failure> {
    let held = exec.requests().pause;
    if held {
        rollout.observe(Progress::Paused);
    }
    exec.gate().await?;
    if held {
        rollout.observe(Progress::Resumed);
    }
    Ok(())
}

/// The entry of a pause ended by `gantry promote`: what it skipped, and, under analysis,
/// whether the step had the evidence of a passing window (the ledger keeps that a version
/// moved on without it).
fn promoted_by_hand(
    i: usize,
    steps: usize,
    step: &Step,
    analysed: Option<&Tally>,
) -> (serde_json::Value, String) {
    let mut body = json!({"promote": "step", "ended_step": i + 1, "ended": step.to_string()});
    let mut text = format!(
        "promote: step {}/{steps} ({step}) ended by the operator",
        i + 1
    );
    if let Some(t) = analysed {
        let without = t.step_passes == 0;
        body["without_passing_window"] = without.into();
        body["windows"] = json!({"judged": t.step_windows, "passed": t.step_passes});
        if without {
            text.push_str(&format!(
                " without a passing analysis window ({} judged, none passed)",
                t.step_windows
            ));
        }
    }
    (body, text)
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
