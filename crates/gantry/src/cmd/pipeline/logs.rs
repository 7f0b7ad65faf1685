//! `gantry logs RUN|last [STEP] [--follow]`: the step logs of a run, in order, also while
//! a step runs.

use std::time::Duration;

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
        let [(name, log, seq)] = &logs[..] else {
            return Err(exit::usage(format!(
                "--follow follows one step; '{}' names {} in run {}: {}",
                step.unwrap_or_default(),
                logs.len(),
                run.id,
                logs.iter()
                    .map(|l| l.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        return follow_one(project, &run, name, log, *seq, json);
    }
    let mut docs = Vec::new();
    let mut refused = Vec::new();
    for (name, log, seq) in &logs {
        // The path comes from a ledger entry: read it only inside the run's directory.
        let text = match super::confine::confine(&project.root, &run.id, log) {
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

/// The run `id` names: its id, a unique prefix, or `last` (the latest run).
fn find_run<'a>(state: &'a gantry_state::State, id: &str) -> anyhow::Result<&'a Run> {
    let found = if id == "last" {
        state.runs.runs.values().max_by(|a, b| a.id.cmp(&b.id))
    } else {
        state.runs.find(id)
    };
    found.ok_or_else(|| {
        exit::usage(if id == "last" {
            "no runs in the ledger yet; start one with `gantry run`".to_string()
        } else {
            format!("no run '{id}' in the ledger, or more than one starts so (see `gantry runs`)")
        })
    })
}

type Selected = (String, String, Option<u64>);

/// The steps `want` names, with a log: an exact step name, `stage/name` or stage name
/// first; else a prefix of one of those, which must name one step or one stage.
fn select(run: &Run, want: Option<&str>) -> anyhow::Result<Vec<Selected>> {
    let all: Vec<(String, String, Selected)> = run
        .stages
        .iter()
        .flat_map(|stage| {
            stage.steps.iter().filter_map(|s| {
                let full = format!("{}/{}", stage.name, s.name);
                let log = s.log.clone()?;
                Some((stage.name.clone(), s.name.clone(), (full, log, s.log_seq)))
            })
        })
        .collect();
    let Some(want) = want else {
        if all.is_empty() {
            return Err(exit::usage(format!("run {} has no step logs yet", run.id)));
        }
        return Ok(all.into_iter().map(|(_, _, s)| s).collect());
    };
    let exact: Vec<Selected> = all
        .iter()
        .filter(|(stage, step, sel)| *step == want || sel.0 == want || *stage == want)
        .map(|(_, _, s)| s.clone())
        .collect();
    if !exact.is_empty() {
        return Ok(exact);
    }
    let prefixed: Vec<&(String, String, Selected)> = all
        .iter()
        .filter(|(stage, step, sel)| {
            step.starts_with(want) || sel.0.starts_with(want) || stage.starts_with(want)
        })
        .collect();
    let stages: std::collections::BTreeSet<&str> = prefixed
        .iter()
        .map(|(stage, _, _)| stage.as_str())
        .collect();
    let one_stage =
        stages.len() == 1 && prefixed.iter().all(|(stage, _, _)| stage.starts_with(want));
    if prefixed.len() == 1 || one_stage {
        return Ok(prefixed.into_iter().map(|(_, _, s)| s.clone()).collect());
    }
    let names: Vec<&str> = all.iter().map(|(_, _, s)| s.0.as_str()).collect();
    Err(exit::usage(if prefixed.is_empty() {
        format!(
            "run {} has no step '{want}' with a log; its steps: {}",
            run.id,
            names.join(", ")
        )
    } else {
        format!(
            "'{want}' matches more than one step of run {}: {}; give more of the name",
            run.id,
            prefixed
                .iter()
                .map(|(_, _, s)| s.0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }))
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
    let path = super::confine::confine(&project.root, &run.id, log).map_err(|why| {
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
