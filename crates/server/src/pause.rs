//! A pause step: held for its duration (operator pauses do not count), until `promote`,
//! or until analysis fails; the new version is judged every analysis window meanwhile —
//! on the stable address, or, for blue-green before the switch, on the preview address.

use std::time::Duration;

// The runtime's clock, so that tests on a paused clock run a 30 s pause in no time.
use tokio::time::Instant;

use gantry_config::Inconclusive;
use gantry_deploy::{Figures, LastAnalysis, PauseView, Phase, Tally, Verdict, judge, no_evidence};
use serde_json::json;

use crate::command::Note;
use crate::core::By;
use crate::deployment::Failure;
use crate::exec::Exec;

/// What a pause step holds for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hold {
    /// `None`: until `gantry promote`.
    pub millis: Option<u64>,
    pub analyse: bool,
    /// Judge the preview address's traffic; a timed hold then also needs a passing window.
    pub preview: bool,
}

/// How a pause ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PauseEnd {
    /// Its time was up (and, on a preview, the last window passed).
    Elapsed,
    /// `gantry promote` ended it.
    Promoted,
    /// `gantry promote --full`.
    Full,
}

/// Takes one pending `promote`, if any.
async fn take_promote(exec: &Exec) -> Result<Option<PauseEnd>, Failure> {
    if exec.requests().full {
        return Ok(Some(PauseEnd::Full));
    }
    Ok(exec.take_promote().await?.then_some(PauseEnd::Promoted))
}

pub(crate) async fn pause(
    exec: &mut Exec,
    config: &gantry_config::Service,
    hold: Hold,
    tally: &mut Tally,
) -> Result<PauseEnd, Failure> {
    exec.in_pause(true).await?;
    tally.new_step();
    let analysed = hold.analyse && config.analysis.is_some();
    exec.note(Note::Pause(Some(view(
        hold,
        analysed,
        Duration::ZERO,
        tally,
    ))))
    .await?;
    let end = hold_pause(exec, config, hold, tally).await;
    // Out of the pause however it ended; an owner that is over refuses, which changes nothing.
    let _ = exec.note(Note::Pause(None)).await;
    // A promote that came too late for this pause is not kept for the next one.
    exec.in_pause(false).await?;
    end
}

async fn hold_pause(
    exec: &mut Exec,
    config: &gantry_config::Service,
    hold: Hold,
    tally: &mut Tally,
) -> Result<PauseEnd, Failure> {
    if let Some(end) = take_promote(exec).await? {
        return Ok(end);
    }
    if hold.millis.is_none() {
        wait_for_promote(exec, "waiting for `gantry promote`".into()).await?;
    }
    let rules = config.analysis.as_ref().filter(|_| hold.analyse);
    let window = rules.map(|r| r.window.as_std());
    let mut last = Instant::now();
    let mut held = Duration::ZERO;
    let mut passed = false;
    let policy = rules.map_or(Inconclusive::Pass, |r| r.inconclusive);
    // The last window judged in this step, to say why it has no evidence.
    let mut last_window: Option<(Figures, Verdict)> = None;
    // Held by the system for want of evidence (a passing window then moves it on).
    let mut awaiting_evidence = false;
    let mut probe_base = probe_failures(exec);
    // Whole seconds held as last reported, so a watcher sees the time left move.
    let mut reported = 0;
    let tick = Duration::from_millis(25);
    loop {
        if exec.requests().abort {
            return Err(Failure::Abort);
        }
        if let Some(end) = take_promote(exec).await? {
            exec.note(Note::WaitingForPromote(false)).await?;
            return Ok(end);
        }
        if let (Some(rules), Some(window)) = (rules, window)
            && last.elapsed() >= window
        {
            last = Instant::now();
            let pf = probe_failures(exec);
            let figures = measure(
                exec,
                &exec.plan.to,
                window,
                hold.preview,
                pf - probe_base.min(pf),
            );
            probe_base = pf;
            let baseline = exec
                .plan
                .from
                .as_deref()
                .map(|f| measure(exec, f, window, false, 0));
            let verdict = judge(rules, &figures, baseline.as_ref());
            let (verdict, prometheus) = crate::analysis_prometheus::judge(
                rules,
                &exec.plan.service,
                &exec.plan.to,
                verdict,
            )
            .await;
            passed = verdict == Verdict::Pass;
            let over = tally.record(&verdict);
            exec.tally = *tally;
            last_window = Some((figures, verdict.clone()));
            exec.note(Note::Pause(Some(view(hold, true, held, tally))))
                .await?;
            tracing::info!(deployment = %exec.id, ?verdict, requests = figures.requests, preview = hold.preview, "analysis");
            exec.note(Note::Analysis(LastAnalysis {
                figures,
                baseline,
                verdict: verdict.clone(),
                failures: tally.failures,
                failure_limit: tally.limit,
                prometheus: prometheus.clone().map(Box::new),
            }))
            .await?;
            if over && let Verdict::Fail { reasons } = &verdict {
                let on = if hold.preview {
                    " of the preview traffic"
                } else {
                    ""
                };
                return Err(Failure::Failed {
                    reason: format!("analysis{on} failed: {}", reasons.join("; ")),
                    figures: Some(json!({
                        "version": exec.plan.to,
                        "on": if hold.preview { "preview" } else { "stable address" },
                        "requests": figures.requests,
                        "errors_5xx": figures.errors_5xx,
                        "grpc_errors": figures.grpc_errors,
                        "error_rate": figures.error_rate,
                        "p99_ms": figures.p99_ms,
                        "probe_failures": figures.probe_failures,
                        "window_ms": figures.window_ms,
                        "failing_windows": tally.failures,
                        "failure_limit": tally.limit,
                        "baseline": baseline,
                    }))
                    .map(|mut f| {
                        if let Some(p) = &prometheus {
                            f["prometheus"] = json!(p);
                        }
                        f
                    }),
                });
            }
        }
        if let Some(ms) = hold.millis
            && held >= Duration::from_millis(ms)
        {
            // No promotion without evidence: a step moves on by itself only after a
            // passing window (on a preview: the last one), unless told otherwise.
            let wanting = match rules {
                Some(r) if policy != Inconclusive::Pass => {
                    let evidence = if hold.preview {
                        passed
                    } else {
                        tally.step_passes > 0
                    };
                    (!evidence).then_some(r)
                }
                _ => None,
            };
            let Some(rules) = wanting else {
                exec.note(Note::WaitingForPromote(false)).await?;
                if awaiting_evidence {
                    exec.enter(
                        Phase::Progressing,
                        By::System,
                        json!({"evidence": "an analysis window passed"}),
                        "progressing: an analysis window passed".into(),
                    )
                    .await?;
                }
                return Ok(PauseEnd::Elapsed);
            };
            let why = no_evidence(rules, last_window.as_ref().map(|(f, v)| (f, v)));
            if policy == Inconclusive::Fail {
                let f = last_window.as_ref().map(|(f, _)| *f).unwrap_or_default();
                return Err(Failure::Failed {
                    reason: format!(
                        "no passing analysis window in the step ({why}); analysis.inconclusive is fail"
                    ),
                    figures: Some(json!({
                        "version": exec.plan.to,
                        "on": if hold.preview { "preview" } else { "stable address" },
                        "requests": f.requests,
                        "window_ms": f.window_ms,
                        "windows": tally.step_windows,
                        "passing_windows": tally.step_passes,
                        "inconclusive": "fail",
                    })),
                });
            }
            if !awaiting_evidence {
                awaiting_evidence = true;
                let reason = if hold.preview {
                    format!(
                        "waiting for a passing analysis of the preview traffic ({why}) or `gantry promote`"
                    )
                } else {
                    format!("{why}; waiting for a passing window or `gantry promote`")
                };
                wait_for_promote(exec, reason).await?;
            }
        }
        if held.as_secs() > reported {
            reported = held.as_secs();
            exec.note(Note::Pause(Some(view(hold, rules.is_some(), held, tally))))
                .await?;
        }
        let before = Instant::now();
        let paused = exec.requests().pause;
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = exec.requests_changed() => {}
        }
        // Time held by the operator's pause does not count towards the step's duration.
        if !paused && !exec.requests().pause {
            held += before.elapsed();
        }
    }
}

fn view(hold: Hold, analyse: bool, held: Duration, tally: &Tally) -> PauseView {
    PauseView {
        millis: hold.millis,
        held_ms: held.as_millis() as u64,
        analyse,
        windows: tally.step_windows,
        passed: tally.step_passes,
    }
}

async fn wait_for_promote(exec: &Exec, reason: String) -> Result<(), Failure> {
    exec.note(Note::WaitingForPromote(true)).await?;
    exec.enter(
        Phase::Paused,
        By::System,
        json!({ "reason": reason }),
        format!("paused: {reason}"),
    )
    .await?;
    Ok(())
}

fn probe_failures(exec: &Exec) -> u64 {
    exec.core
        .driver
        .instances(&exec.plan.service)
        .iter()
        .filter(|i| i.version == exec.plan.to)
        .map(|i| i.probe_failures)
        .sum()
}

fn measure(
    exec: &Exec,
    version: &str,
    window: Duration,
    preview: bool,
    probe_failures: u64,
) -> Figures {
    // The router counts in whole seconds, the current (partial) one included: one more
    // second makes the measurement cover at least the full window.
    let span = window + Duration::from_secs(1);
    let m = if preview {
        exec.core
            .driver
            .measure_preview(&exec.plan.service, version, span)
    } else {
        exec.core.driver.measure(&exec.plan.service, version, span)
    };
    Figures {
        requests: m.requests,
        errors_5xx: m.errors_5xx,
        grpc_errors: m.grpc_errors,
        error_rate: m.error_rate,
        p99_ms: m.p99_ms,
        probe_failures,
        window_ms: m.window_ms,
    }
}
