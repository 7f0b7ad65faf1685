//! `gantry runs` and `gantry runs show ID`.

use gantry_state::Run;

use super::reconciled_state;
use crate::project::Project;
use crate::{exit, output};

fn duration(run: &Run) -> String {
    run.duration_ms
        .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

fn signers(run: &Run) -> String {
    run.checkpoints
        .iter()
        .map(|c| match &c.signer {
            Some(id) => format!("{}: {} {id} ({})", c.stage, c.status, c.role),
            None => format!("{}: waiting for {}", c.stage, c.role),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn list(project: &Project, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let state = reconciled_state(project, &config)?;
    if json {
        let runs: Vec<_> = state
            .runs
            .runs
            .values()
            .map(gantry_pipeline::run_summary)
            .collect();
        return output::json(&runs);
    }
    if state.runs.runs.is_empty() {
        println!("no runs yet: start one with `gantry run`");
        return Ok(());
    }
    let mut table = output::table(&["run", "pipeline", "status", "started", "duration", "signed"]);
    for run in state.runs.runs.values() {
        table.add_row(vec![
            run.id.clone(),
            run.pipeline.clone(),
            run.status.as_str().to_string(),
            output::short_ts(&run.started),
            duration(run),
            signers(run),
        ]);
    }
    println!("{table}");
    Ok(())
}

pub fn show(project: &Project, id: &str, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let state = reconciled_state(project, &config)?;
    let run = state
        .runs
        .find(id)
        .ok_or_else(|| exit::usage(format!("no run '{id}' in the ledger (see `gantry runs`)")))?;
    if json {
        return output::json(run);
    }
    println!(
        "run {} of pipeline {}: {}",
        run.id,
        run.pipeline,
        run.status.as_str()
    );
    println!(
        "started {} by {} (pid {} on {}), duration {}",
        output::short_ts(&run.started),
        run.started_by,
        run.pid,
        run.host,
        duration(run)
    );
    if let Some(reason) = &run.reason {
        println!("reason: {reason}");
    }
    for stage in &run.stages {
        let why = stage
            .reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        println!("stage {}: {}{why}", stage.name, stage.status);
        for step in &stage.steps {
            let code = step
                .exit_code
                .map(|c| format!(" exit {c}"))
                .unwrap_or_default();
            let ms = step
                .duration_ms
                .map(|d| format!(" {:.2}s", d as f64 / 1000.0))
                .unwrap_or_default();
            println!(
                "  {} {}{code}{ms} attempt {} {}",
                step.status,
                step.name,
                step.attempts,
                step.log.as_deref().unwrap_or("")
            );
        }
    }
    for cp in &run.checkpoints {
        let by = cp
            .signer
            .as_ref()
            .map(|s| format!(" by {s} ({})", cp.key.as_deref().unwrap_or("")))
            .unwrap_or_default();
        println!(
            "checkpoint {} ({}, {}): {}{by}",
            cp.stage, cp.role, cp.mode, cp.status
        );
        if let Some(summary) = &cp.summary {
            println!("  summary: {summary}");
        }
        for refusal in &cp.refusals {
            println!("  refused: {}", refusal.reason);
        }
    }
    if let Some(m) = &run.manifest {
        println!(
            "manifest {} ({} files) sha256 {}",
            m.path, m.files, m.sha256
        );
    }
    if run.tokens_used > 0 {
        println!("tokens used: {}", run.tokens_used);
    }
    for r in &run.ignored {
        println!("ignored: {r}");
    }
    Ok(())
}
