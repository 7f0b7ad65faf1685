//! `gantry ps`: services, versions, weights, instances and their health.

use std::io::IsTerminal;

use super::client::Client;
use crate::output;
use crate::project::Project;

pub fn run(project: &Project, env: Option<&str>, json: bool, watch: bool) -> anyhow::Result<()> {
    if let Some(e) = env {
        let config = project.config()?;
        if !config.environments.contains_key(e) {
            return Err(crate::exit::usage(format!(
                "no environment '{e}' in gantry.yaml; environments: {}",
                config
                    .environments
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let client = Client::connect(project)?;
    if watch {
        if !json && std::io::stdout().is_terminal() {
            return super::watch::ps_live(&client, project.config().ok().as_ref());
        }
        return super::watch::ps_events(&client, json);
    }
    let mut ps = client.get("/v1/ps")?;
    if let (Some(e), Some(list)) = (env, ps["services"].as_array_mut()) {
        list.retain(|svc| svc["env"].as_str() == Some(e));
    }
    for svc in ps["services"].as_array_mut().into_iter().flatten() {
        // A service that never had a version is not "healthy": scripts can tell.
        svc["deployed"] = (!(svc["stable"].is_null() && svc["deployment"].is_null())).into();
    }
    if json {
        return output::json(&ps);
    }
    println!("status: {}", ps["status"].as_str().unwrap_or_default());
    if let Some(why) = ps["ledger_error"].as_str() {
        println!(
            "ledger: cannot be written ({why}); every change is refused until `gantry serve` restarts with a writable ledger"
        );
    }
    let refused = &ps["api"]["refused"];
    if refused["total"].as_u64().is_some_and(|n| n > 0) {
        // Someone is calling without the right token: worth a look at the serve log.
        println!(
            "{} API call(s) refused since start (missing header {}, wrong scheme {}, wrong token {}); \
             the control plane's log names each caller",
            refused["total"],
            refused["missing_header"],
            refused["wrong_scheme"],
            refused["wrong_token"]
        );
    }
    for svc in ps["services"].as_array().cloned().unwrap_or_default() {
        if svc["stable"].is_null() && svc["deployment"].is_null() {
            // Nothing to report healthy or not: say so instead of an empty table.
            let name = svc["name"].as_str().unwrap_or_default();
            println!(
                "\n{name} on {}  not deployed (`gantry deploy {name} --version V`)",
                svc["listen"].as_str().unwrap_or("-"),
            );
            continue;
        }
        let weights: Vec<String> = svc["weights"]
            .as_object()
            .map(|m| m.iter().map(|(v, w)| format!("{v}={w}")).collect())
            .unwrap_or_default();
        println!(
            "\n{} on {}  stable: {}  traffic: {}{}",
            svc["name"].as_str().unwrap_or_default(),
            svc["listen"].as_str().unwrap_or("-"),
            svc["stable"].as_str().unwrap_or("none"),
            if weights.is_empty() {
                "none".to_string()
            } else {
                weights.join(" ")
            },
            if svc["emergency_stop"].as_bool() == Some(true) {
                "  EMERGENCY STOP (503)"
            } else {
                ""
            }
        );
        if let Some(waiting) = crate::cmd::approval::waiting(&svc["deployment"]) {
            let d = &svc["deployment"];
            println!(
                "deployment {}: {} → {} ({}), {waiting}",
                d["id"].as_str().unwrap_or_default(),
                d["from"].as_str().unwrap_or("nothing"),
                d["to"].as_str().unwrap_or_default(),
                d["strategy"].as_str().unwrap_or_default().replace('_', "-"),
            );
        } else if let Some(d) = svc["deployment"].as_object() {
            println!(
                "deployment {}: {} → {} ({}), {}, step {}/{}: {}",
                d["id"].as_str().unwrap_or_default(),
                d["from"].as_str().unwrap_or("nothing"),
                d["to"].as_str().unwrap_or_default(),
                d["strategy"].as_str().unwrap_or_default().replace('_', "-"),
                d["phase"].as_str().unwrap_or_default(),
                d["step"],
                d["steps"],
                d["current"].as_str().unwrap_or_default()
            );
            if d["phase"] == "paused"
                && let Some(why) = d["reason"].as_str()
            {
                // Why nothing moves, e.g. a step waiting for the traffic to judge it on.
                println!("paused: {why}");
            }
        }
        let mut table = output::table(&[
            "instance",
            "version",
            "phase",
            "ready",
            "restarts",
            "addr",
            "pid",
            "limits",
            "last exit",
        ]);
        for i in svc["instances"].as_array().cloned().unwrap_or_default() {
            table.add_row(vec![
                i["instance"].as_str().unwrap_or_default().to_string(),
                i["version"].as_str().unwrap_or_default().to_string(),
                i["phase"].as_str().unwrap_or_default().to_string(),
                i["ready"].to_string(),
                i["restarts"].to_string(),
                i["addr"].as_str().unwrap_or("-").to_string(),
                i["pid"].as_u64().map_or("-".into(), |p| p.to_string()),
                i["limits"].as_str().unwrap_or("none").to_string(),
                i["last_exit"].as_str().unwrap_or("-").to_string(),
            ]);
        }
        println!("{table}");
    }
    Ok(())
}
