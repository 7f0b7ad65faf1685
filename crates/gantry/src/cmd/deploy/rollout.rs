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
    crate::cmd::decisions::refuse_if_vetoed(project, &args.service)?;
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
    wait(&client, &id, json, "succeeded")
}

/// Follows deployment `id` until it ends, printing its timeline (not with `--json`).
/// Exit 0 if it ended in `success` phase, else 1 with the reason.
pub fn wait(client: &Client, id: &str, json: bool, success: &str) -> anyhow::Result<()> {
    let show = !json;
    let tty = std::io::stdout().is_terminal();
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
                println!(
                    "{}  {}",
                    output::short_ts(e["ts"].as_str().unwrap_or_default()),
                    e["text"].as_str().unwrap_or_default()
                );
            }
        }
        printed = timeline.len();
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
        if tty && show && status["waiting_for_promote"].as_bool() == Some(true) {
            // A terminal user needs to know why nothing moves.
            eprint!(
                "\rwaiting for `gantry promote {}`…",
                status["service"].as_str().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn done(status: &Value) -> bool {
    match status["phase"].as_str().unwrap_or_default() {
        "succeeded" | "rolled_back" | "aborted" => true,
        "failed" => status["from"].is_null(),
        _ => false,
    }
}

/// `gantry promote [--full]`.
pub fn promote(project: &Project, service: &str, full: bool, json: bool) -> anyhow::Result<()> {
    let client = Client::connect(project)?;
    let status = client.post(
        &format!("/v1/services/{service}/promote"),
        json!({ "full": full }),
    )?;
    if json {
        return output::json(&status);
    }
    let what = if full {
        "full promotion (remaining steps skipped) requested for"
    } else {
        "promotion to the next step requested for"
    };
    println!("{what} {}", describe(&status));
    Ok(())
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
