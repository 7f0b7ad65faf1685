//! `gantry rollback SERVICE [--to V] [--dry-run]`.

use serde_json::json;

use super::RollbackArgs;
use super::client::Client;
use crate::output;
use crate::project::Project;

pub fn run(project: &Project, args: &RollbackArgs, json: bool) -> anyhow::Result<()> {
    let client = Client::connect(project)?;
    let answer = client.post(
        &format!("/v1/services/{}/rollback", args.service),
        json!({"to": args.to, "dry_run": args.dry_run}),
    )?;
    let steps: Vec<String> = answer["steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if args.dry_run {
        if json {
            return output::json(&answer);
        }
        let plan = &answer["plan"];
        println!(
            "rollback plan for {} ({} → {}); dry run, nothing changed:",
            args.service,
            plan["from"].as_str().unwrap_or("nothing"),
            plan["to"].as_str().unwrap_or_default()
        );
        for (i, s) in steps.iter().enumerate() {
            println!("  {}. {s}", i + 1);
        }
        return Ok(());
    }
    let id = answer["deployment"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if args.no_wait {
        if json {
            return output::json(&answer);
        }
        println!("rollback {id} started");
        return Ok(());
    }
    super::rollout::wait(&client, &id, json, "rolled_back")
}
