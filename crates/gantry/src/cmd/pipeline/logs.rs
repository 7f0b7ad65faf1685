//! `gantry logs RUN|last [STEP] [--follow]`: the step logs of a run, in order, also while
//! a step runs.

use std::time::Duration;

use gantry_pipeline::StepLog;
use gantry_state::Run;
use serde_json::json;

use crate::project::Project;
use crate::{exit, output};

pub fn run(
    project: &Project,
    id: &str,
    step: Option<&str>,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let state = project.state()?;
    let run = find_run(&state, id)?.clone();
    let logs = select(&run, step)?;
    if follow {
        let [StepLog { name, log, seq }] = &logs[..] else {
            return Err(exit::usage(format!(
                "--follow follows one step; '{}' names {} in run {}: {}",
                step.unwrap_or_default(),
                logs.len(),
                run.id,
                logs.iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        return follow_one(project, &run, name, log, *seq, json);
    }
    let mut docs = Vec::new();
    let mut refused = Vec::new();
    for StepLog { name, log, seq } in &logs {
        // The path comes from a ledger entry: read it only inside the run's directory.
        let text = match gantry_pipeline::confine(&project.root, &run.id, log) {
            Ok(path) => std::fs::read_to_string(&path)
                .unwrap_or_else(|e| format!("(cannot read {log}: {e})\n")),
            Err(why) => {
                let entry = seq.map_or_else(String::new, |s| format!(" (seq {s})"));
                let reason = format!("refused the log path of step {name}{entry}: {why}");
                eprintln!("error: {reason}");
                refused.push(reason);
                continue;
            }
        };
        if json {
            docs.push(json!({"step": name, "log": log, "text": text}));
        } else {
            if logs.len() > 1 {
                output::print(&format!("==> {name} ({log})\n"));
            }
            output::print(&text);
        }
    }
    if json {
        output::json(&docs)?;
    }
    if !refused.is_empty() {
        return Err(exit::silent(exit::FAILED));
    }
    Ok(())
}

/// The run `id` names, or a usage error.
fn find_run<'a>(state: &'a gantry_state::State, id: &str) -> anyhow::Result<&'a Run> {
    gantry_pipeline::find_run(&state.runs, id).map_err(exit::usage)
}

/// The steps `want` names, or a usage error.
fn select(run: &Run, want: Option<&str>) -> anyhow::Result<Vec<StepLog>> {
    gantry_pipeline::select_logs(run, want).map_err(exit::usage)
}

/// Prints the step's log as it grows until the step is no longer running (state re-read
/// from the ledger), then what was written last.
fn follow_one(
    project: &Project,
    run: &Run,
    name: &str,
    log: &str,
    seq: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    let path = gantry_pipeline::confine(&project.root, &run.id, log).map_err(|why| {
        let entry = seq.map_or_else(String::new, |s| format!(" (seq {s})"));
        exit::failed(format!("refused the log path of step {name}{entry}: {why}"))
    })?;
    let mut offset = 0usize;
    loop {
        // Whether it still runs is read before the file, so the last read sees all it wrote.
        let running = project
            .state()?
            .runs
            .find(&run.id)
            .and_then(|r| {
                r.stages
                    .iter()
                    .flat_map(|st| st.steps.iter().map(move |s| (st, s)))
                    .find(|(st, s)| format!("{}/{}", st.name, s.name) == name)
                    .map(|(_, s)| s.status == "started" || s.status == "running")
            })
            .unwrap_or(false);
        let bytes = std::fs::read(&path).unwrap_or_default();
        if bytes.len() > offset {
            let chunk = String::from_utf8_lossy(&bytes[offset..]).into_owned();
            offset = bytes.len();
            if json {
                output::print(&format!("{}\n", json!({"step": name, "text": chunk})));
            } else {
                output::print(&chunk);
            }
        }
        if !running {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
