//! A pause step: held for its duration (operator pauses do not count), until `promote`,
//! or until analysis fails; the new version is judged every analysis window meanwhile —
//! on the stable address, or, for blue-green before the switch, on the preview address.

use std::time::Duration;

// The runtime's clock, so that tests on a paused clock run a 30 s pause in no time.
use tokio::time::Instant;

use gantry_deploy::{Figures, LastAnalysis, Phase, Tally, Verdict, judge};
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
    let end = hold_pause(exec, config, hold, tally).await;
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
    let mut probe_base = probe_failures(exec);
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
            if !hold.preview || passed {
                exec.note(Note::WaitingForPromote(false)).await?;
                return Ok(PauseEnd::Elapsed);
            }
            // No evidence yet (too little preview traffic): green is not promoted on a
            // guess; it waits for a passing window or the operator.
            let status = exec.status();
            if !status.as_ref().is_some_and(|s| s.waiting_for_promote) {
                let why = match status.and_then(|s| s.analysis).map(|a| a.verdict) {
                    Some(Verdict::Inconclusive { reason }) => reason,
                    _ => "no analysis window yet".into(),
                };
                wait_for_promote(
                    exec,
                    format!("waiting for a passing analysis of the preview traffic ({why}) or `gantry promote`"),
                )
                .await?;
            }
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
        error_rate: m.error_rate,
        p99_ms: m.p99_ms,
        probe_failures,
        window_ms: m.window_ms,
    }
}
