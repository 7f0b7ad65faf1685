//! `gantry deploy` and the operations on a running deployment (promote, pause, resume,
//! abort).

use std::io::IsTerminal;
use std::time::Duration;

use serde_json::{Value, json};

use super::client::Client;
use super::{DeployArgs, StrategyArg};
use crate::project::Project;
use crate::{exit, output};

pub fn deploy(project: &Project, args: &DeployArgs, json: bool) -> anyhow::Result<()> {
    // A veto stands on the service, whichever environment (`web@production`) is named.
    crate::cmd::decisions::refuse_if_vetoed(project, gantry_config::split_target(&args.service).0)?;
    let client = Client::connect(project)?;
    let strategy = args.strategy.map(|s| match s {
        StrategyArg::Rolling => "rolling",
        StrategyArg::BlueGreen => "blue_green",
        StrategyArg::Canary => "canary",
    });
    let status = client.post(
        &format!("/v1/services/{}/deploy", args.service),
        json!({"version": args.version, "strategy": strategy, "env": args.env,
            "override_policy": args.override_policy}),
    )?;
    let id = status["id"].as_str().unwrap_or_default().to_string();
    if !args.wait {
        if json {
            return output::json(&status);
        }
        if let Some(waiting) = crate::cmd::approval::waiting(&status) {
            let env = status["approval"]["env"].as_str().unwrap_or_default();
            let base = args.service.split('@').next().unwrap_or_default();
            println!(
                "deployment {id}: {} → {} {waiting}; `gantry approve {base} --env {env} --as {}` lets it start",
                status["from"].as_str().unwrap_or("nothing"),
                args.version,
                status["approval"]["role"].as_str().unwrap_or_default()
            );
            return Ok(());
        }
        println!(
            "deployment {id}: {} → {} ({}) started; follow it with `gantry ps`",
            status["from"].as_str().unwrap_or("nothing"),
            args.version,
            status["strategy"]
                .as_str()
                .unwrap_or_default()
                .replace('_', "-")
        );
        return Ok(());
    }
    wait(project, &client, &id, json, "succeeded")
}

/// Follows deployment `id` until it ends, printing its timeline (not with `--json`).
/// Exit 0 if it ended in `success` phase, else 1 with the reason.
pub fn wait(
    project: &Project,
    client: &Client,
    id: &str,
    json: bool,
    success: &str,
) -> anyhow::Result<()> {
    let show = !json;
    let tty = std::io::stdout().is_terminal();
    // On a terminal the rollout is one view redrawn in place, the timeline printed above it.
    let live = (tty && show).then(super::watch::Live::new);
    // Only for the thresholds shown: a config that does not load shows none.
    let config = live.as_ref().and_then(|_| project.config().ok());
    let mut printed = 0;
    let mut on_ctrl_c = true;
    loop {
        let status = client.get(&format!("/v1/deployments/{id}"))?;
        if std::mem::take(&mut on_ctrl_c) {
            let (id, service) = (
                id.to_string(),
                status["service"].as_str().unwrap_or_default().to_string(),
            );
            let what = if success == "rolled_back" {
                "rollback"
            } else {
                "deployment"
            };
            crate::cmd::interrupt::on_ctrl_c(json, move || {
                crate::cmd::interrupt::rollout_goes_on(&id, &service, what)
            })?;
        }
        let timeline = status["timeline"].as_array().cloned().unwrap_or_default();
        if show {
            for e in &timeline[printed.min(timeline.len())..] {
                let line = format!(
                    "{}  {}",
                    output::short_ts(e["ts"].as_str().unwrap_or_default()),
                    e["text"].as_str().unwrap_or_default()
                );
                match &live {
                    Some(l) => l.println(&line),
                    None => println!("{line}"),
                }
            }
        }
        printed = timeline.len();
        if let Some(l) = &live {
            let service = status["service"].as_str().unwrap_or_default();
            let ps = client.get("/v1/ps")?;
            let svc = ps["services"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["name"] == service)
                .cloned()
                .unwrap_or_default();
            let mut view =
                super::watch::render(&svc, super::watch::rules(config.as_ref(), service));
            if status["waiting_for_promote"] == true && !done(&status) {
                view.push_str(&format!("\nwaiting for `gantry promote {service}`…"));
            }
            if let Some(waiting) = crate::cmd::approval::waiting(&status) {
                view.push_str(&format!("\n{waiting}…"));
            }
            l.show(view);
            if done(&status) {
                l.finish();
            }
        }
        if done(&status) {
            let phase = status["phase"].as_str().unwrap_or_default();
            if phase == success {
                if json {
                    output::json(&status)?;
                }
                return Ok(());
            }
            let reason = status["reason"].as_str().unwrap_or("no reason recorded");
            let msg = format!("deployment {id} {}: {reason}", phase.replace('_', " "));
            // With --json the deployment rides along in the error, so stdout stays one document.
            return Err(exit::with_detail(exit::ROLLED_BACK, msg, status));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn done(status: &Value) -> bool {
    match status["phase"].as_str().unwrap_or_default() {
        "succeeded" | "rolled_back" | "aborted" => true,
        // Nothing to roll back: a first deploy, or one whose approval expired unstarted.
        "failed" => status["from"].is_null() || status["approval"]["state"] == "expired",
        _ => false,
    }
}

/// `gantry promote [--full]`.
pub fn promote(project: &Project, service: &str, full: bool, json: bool) -> anyhow::Result<()> {
    let client = Client::connect(project)?;
    let mut status = client.post(
        &format!("/v1/services/{service}/promote"),
        json!({ "full": full }),
    )?;
    let skips = (!full).then(|| skipped(&status)).flatten();
    if json {
        if let Some(s) = &skips {
            status["skips"] = s.as_str().into();
        }
        return output::json(&status);
    }
    let what = if full {
        "full promotion (remaining steps skipped) requested for"
    } else {
        "promotion to the next step requested for"
    };
    println!("{what} {}", describe(&status));
    if let Some(s) = skips {
        println!("{s}");
    }
    Ok(())
}

/// What an early `promote` skips of the pause the deployment is in: the time it had left
/// and, under analysis, the windows it would still have judged.
pub(crate) fn skipped(status: &Value) -> Option<String> {
    let p = status.get("pause").filter(|p| p.is_object())?;
    let held = p["held_ms"].as_u64().unwrap_or(0);
    let step = format!("step {}/{}", status["step"], status["steps"]);
    let time = match p["millis"].as_u64() {
        Some(ms) if ms > held => format!(
            "{:.1}s of its {:.1}s pause",
            (ms - held) as f64 / 1000.0,
            ms as f64 / 1000.0
        ),
        Some(_) => "the wait after its pause".to_string(),
        None => "its wait for `gantry promote`".to_string(),
    };
    if p["analyse"] != true {
        return Some(format!("skips {time} ({step}; no analysis in it)"));
    }
    let (windows, passed) = (
        p["windows"].as_u64().unwrap_or(0),
        p["passed"].as_u64().unwrap_or(0),
    );
    let evidence = if passed == 0 {
        format!("{windows} window(s) judged, none passed: it moves on without evidence")
    } else {
        format!("{passed} of {windows} window(s) passed")
    };
    Some(format!(
        "skips {time} and the analysis still to come ({step}; {evidence}); later pauses are judged as usual"
    ))
}

/// `deployment ID (FROM → TO), now PHASE`, as operations report it.
fn describe(status: &Value) -> String {
    format!(
        "deployment {} ({} → {}), now {}",
        status["id"].as_str().unwrap_or_default(),
        status["from"].as_str().unwrap_or("nothing"),
        status["to"].as_str().unwrap_or_default(),
        status["phase"]
            .as_str()
            .unwrap_or_default()
            .replace('_', " ")
    )
}

pub fn operate(project: &Project, service: &str, op: &str, json: bool) -> anyhow::Result<()> {
    let client = Client::connect(project)?;
    let status = client.post(&format!("/v1/services/{service}/{op}"), json!({}))?;
    if json {
        return output::json(&status);
    }
    let past = match op {
        "pause" => "paused",
        "resume" => "resumed",
        _ => "abort requested for",
    };
    println!("{past} {}", describe(&status));
    Ok(())
}
