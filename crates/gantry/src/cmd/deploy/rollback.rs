//! `gantry rollback SERVICE [--to V] [--dry-run] [--force]`.

use serde_json::json;

use super::RollbackArgs;
use super::client::Client;
use super::guard;
use crate::output;
use crate::project::Project;

pub fn run(project: &Project, args: &RollbackArgs, json: bool) -> anyhow::Result<()> {
    let client = Client::connect(project)?;
    let path = format!("/v1/services/{}/rollback", args.service);
    // The plan first: it names the target (the previous version when --to is not given),
    // which is checked against the ledger's history before anything changes.
    let mut answer = client.post(&path, json!({"to": args.to, "dry_run": true}))?;
    let target = answer["plan"]["to"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let entries = project.entries()?;
    let (_, admitted) = gantry_state::State::replay_admitted(&entries);
    let revisions = gantry_state::history(admitted, &args.service);
    let bad = guard::bad_record(&revisions, &target);
    let applies = guard::analysis_applies(&answer["plan"]);
    if let Some(bad) = bad {
        if !args.dry_run && !args.force {
            return Err(guard::refuse(&args.service, &target, bad));
        }
        let refusal = format!(
            "{}; {}",
            guard::describe(&args.service, &target, bad),
            if args.force {
                "rolling back to it as --force asks"
            } else {
                "`gantry rollback` refuses it without --force"
            }
        );
        if !json {
            eprintln!("warning: {refusal}");
        }
        answer["warning"] = refusal.into();
    }
    answer["analysis_applies"] = applies.into();
    if !args.dry_run {
        answer = client.post(&path, json!({"to": args.to, "dry_run": false}))?;
    }
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
        if applies {
            println!("analysis applies: {target} is judged in its pauses");
        } else {
            println!(
                "analysis does not apply: {target}'s instances are probed ready before traffic moves, then take it all at once"
            );
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
    super::rollout::wait(project, &client, &id, json, "rolled_back")
}
