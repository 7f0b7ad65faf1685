//! `gantry stop --emergency`, `gantry start` and `gantry reload`.

use serde_json::json;

use super::StopArgs;
use super::client::Client;
use crate::project::Project;
use crate::{exit, output};

pub fn stop(project: &Project, args: &StopArgs, json: bool) -> anyhow::Result<()> {
    if !args.emergency {
        return Err(exit::usage(
            "`gantry stop` needs --emergency: it refuses all traffic (503) and stops every instance; \
             to stop the control plane itself, stop `gantry serve` (Ctrl-C or SIGTERM)",
        ));
    }
    let client = Client::connect(project)?;
    let answer = client.post("/v1/control/emergency-stop", json!({}))?;
    if json {
        return output::json(&answer);
    }
    println!(
        "EMERGENCY STOP: all services answer 503; {} instance(s) stopped; state CRITICAL. `gantry start` recovers.",
        answer["instances_stopped"]
    );
    Ok(())
}

pub fn start(project: &Project, json: bool) -> anyhow::Result<()> {
    let client = Client::connect(project)?;
    let answer = client.post("/v1/control/start", json!({}))?;
    if json {
        return output::json(&answer);
    }
    let started: Vec<&str> = answer["started"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        .unwrap_or_default();
    println!(
        "started: {}; status OPERATIONAL",
        if started.is_empty() {
            "nothing to start".to_string()
        } else {
            started.join(", ")
        }
    );
    Ok(())
}

pub fn reload(project: &Project, json: bool) -> anyhow::Result<()> {
    let client = Client::connect(project)?;
    let answer = client.post("/v1/control/reload", json!({}))?;
    if json {
        return output::json(&answer);
    }
    let list = |key: &str| -> String {
        let names: Vec<&str> = answer[key]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    };
    let sha = answer["sha256"].as_str().unwrap_or("");
    if answer["identical"] == true {
        println!("gantry.yaml reloaded (sha256 {sha}): nothing changed");
    } else {
        println!(
            "gantry.yaml reloaded (sha256 {sha}): added {}; changed {} (from their next deployment)",
            list("added"),
            list("changed")
        );
    }
    Ok(())
}
