//! `gantry logs ID [STEP]`: the step logs of a run, in order.

use serde_json::json;

use crate::project::Project;
use crate::{exit, output};

pub fn run(project: &Project, id: &str, step: Option<&str>, json: bool) -> anyhow::Result<()> {
    let state = project.state()?;
    let run = state
        .runs
        .find(id)
        .ok_or_else(|| exit::usage(format!("no run '{id}' in the ledger (see `gantry runs`)")))?;
    let mut logs = Vec::new();
    for stage in &run.stages {
        for s in &stage.steps {
            let full = format!("{}/{}", stage.name, s.name);
            if step.is_none_or(|want| want == s.name || want == full)
                && let Some(log) = &s.log
            {
                logs.push((full, log.clone(), s.log_seq));
            }
        }
    }
    if logs.is_empty() {
        return Err(exit::usage(match step {
            Some(want) => format!("run {} has no step '{want}' with a log", run.id),
            None => format!("run {} has no step logs yet", run.id),
        }));
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
                println!("==> {name} ({log})");
            }
            print!("{text}");
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
