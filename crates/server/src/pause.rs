//! A pause step: held for its duration (operator pauses do not count), until `promote`,
//! or until analysis fails; the new version is judged every analysis window meanwhile —
//! on the stable address, or, for blue-green before the switch, on the preview address.

use std::sync::atomic::Ordering;
use std::time::Duration;

// The runtime's clock, so that tests on a paused clock run a 30 s pause in no time.
use tokio::time::Instant;

use gantry_deploy::{Figures, LastAnalysis, Phase, Tally, Verdict, judge};
use serde_json::json;

use crate::app::{App, By};
use crate::deployment::{Deployment, Failure};

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
fn take_promote(dep: &Deployment) -> Option<PauseEnd> {
    let req = dep.requests();
    if req.full {
        return Some(PauseEnd::Full);
    }
    if req.advance == 0 {
        return None;
    }
    dep.request(|r| r.advance = r.advance.saturating_sub(1));
    Some(PauseEnd::Promoted)
}

pub(crate) async fn pause(
    app: &App,
    dep: &Deployment,
    config: &gantry_config::Service,
    hold: Hold,
    tally: &mut Tally,
) -> Result<PauseEnd, Failure> {
    dep.request(|r| {
        r.in_pause = true;
        r.advance = 0;
    });
    let end = hold_pause(app, dep, config, hold, tally).await;
    // A promote that came too late for this pause is not kept for the next one.
    dep.request(|r| {
        r.in_pause = false;
        r.advance = 0;
    });
    end
}

async fn hold_pause(
    app: &App,
    dep: &Deployment,
    config: &gantry_config::Service,
    hold: Hold,
    tally: &mut Tally,
) -> Result<PauseEnd, Failure> {
    if let Some(end) = take_promote(dep) {
        return Ok(end);
    }
    if hold.millis.is_none() {
        wait_for_promote(app, dep, "waiting for `gantry promote`".into()).await;
    }
    let rules = config.analysis.as_ref().filter(|_| hold.analyse);
    let window = rules.map(|r| r.window.as_std());
    let mut last = Instant::now();
    let mut held = Duration::ZERO;
    let mut passed = false;
    let mut probe_base = probe_failures(app, dep);
    let tick = Duration::from_millis(25);
    loop {
        if dep.requests().abort {
            return Err(Failure::Abort);
        }
        if let Some(end) = take_promote(dep) {
            dep.with_status(|s| s.waiting_for_promote = false);
            return Ok(end);
        }
        if let (Some(rules), Some(window)) = (rules, window)
            && last.elapsed() >= window
        {
            last = Instant::now();
            let pf = probe_failures(app, dep);
            let figures = measure(
                app,
                dep,
                &dep.plan.to,
                window,
                hold.preview,
                pf - probe_base.min(pf),
            );
            probe_base = pf;
            let baseline = dep
                .plan
                .from
                .as_deref()
                .map(|f| measure(app, dep, f, window, false, 0));
            let verdict = judge(rules, &figures, baseline.as_ref());
            passed = verdict == Verdict::Pass;
            let over = tally.record(&verdict);
            tracing::info!(deployment = %dep.id, ?verdict, requests = figures.requests, preview = hold.preview, "analysis");
            dep.with_status(|s| {
                s.analysis = Some(LastAnalysis {
                    figures,
                    baseline,
                    verdict: verdict.clone(),
                    failures: tally.failures,
                    failure_limit: tally.limit,
                })
            });
            if over && let Verdict::Fail { reasons } = &verdict {
                let on = if hold.preview {
                    " of the preview traffic"
                } else {
                    ""
                };
                return Err(Failure::Failed {
                    reason: format!("analysis{on} failed: {}", reasons.join("; ")),
                    figures: Some(json!({
                        "version": dep.plan.to,
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
                    })),
                });
            }
        }
        if let Some(ms) = hold.millis
            && held >= Duration::from_millis(ms)
        {
            if !hold.preview || passed {
                dep.with_status(|s| s.waiting_for_promote = false);
                return Ok(PauseEnd::Elapsed);
            }
            // No evidence yet (too little preview traffic): green is not promoted on a
            // guess; it waits for a passing window or the operator.
            if !dep.status().waiting_for_promote {
                let why = match dep.status().analysis.map(|a| a.verdict) {
                    Some(Verdict::Inconclusive { reason }) => reason,
                    _ => "no analysis window yet".into(),
                };
                wait_for_promote(
                    app,
                    dep,
                    format!("waiting for a passing analysis of the preview traffic ({why}) or `gantry promote`"),
                )
                .await;
            }
        }
        let before = Instant::now();
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = dep.wake.notified() => {}
        }
        if !dep.requests().pause {
            held += before.elapsed();
        }
        if app.emergency.load(Ordering::Acquire) && !dep.requests().emergency {
            return Err(Failure::Abort);
        }
    }
}

async fn wait_for_promote(app: &App, dep: &Deployment, reason: String) {
    dep.with_status(|s| s.waiting_for_promote = true);
    dep.enter(
        app,
        Phase::Paused,
        By::System,
        json!({ "reason": reason }),
        format!("paused: {reason}"),
    )
    .await;
}

fn probe_failures(app: &App, dep: &Deployment) -> u64 {
    app.driver
        .instances(&dep.plan.service)
        .iter()
        .filter(|i| i.version == dep.plan.to)
        .map(|i| i.probe_failures)
        .sum()
}

fn measure(
    app: &App,
    dep: &Deployment,
    version: &str,
    window: Duration,
    preview: bool,
    probe_failures: u64,
) -> Figures {
    // The router counts in whole seconds, the current (partial) one included: one more
    // second makes the measurement cover at least the full window.
    let span = window + Duration::from_secs(1);
    let m = if preview {
        app.driver.measure_preview(&dep.plan.service, version, span)
    } else {
        app.driver.measure(&dep.plan.service, version, span)
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
