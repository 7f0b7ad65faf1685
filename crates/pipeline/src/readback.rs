//! Reading a run back from its folded state: which run an id names and which step logs a
//! name selects. `gantry runs`/`gantry logs` and the API's `/v1/runs` share these, so a
//! name means the same run and the same steps whichever interface is used.

use gantry_state::{Run, Runs};
use serde::Serialize;

/// The run `id` names: its id, a unique prefix, or `last` (the latest run); else why not.
pub fn find_run<'a>(runs: &'a Runs, id: &str) -> Result<&'a Run, String> {
    let found = if id == "last" {
        runs.runs.values().max_by(|a, b| a.id.cmp(&b.id))
    } else {
        runs.find(id)
    };
    found.ok_or_else(|| {
        if id == "last" {
            "no runs in the ledger yet; start one with `gantry run`".to_string()
        } else {
            format!("no run '{id}' in the ledger, or more than one starts so (see `gantry runs`)")
        }
    })
}

/// A run as `gantry runs` and `GET /v1/runs` list it: without stages and steps (those are
/// in `gantry runs show` and `GET /v1/runs/{id}`).
pub fn run_summary(run: &Run) -> serde_json::Value {
    serde_json::json!({
        "id": run.id, "pipeline": run.pipeline, "status": run.status, "started": run.started,
        "ended": run.ended, "duration_ms": run.duration_ms, "reason": run.reason,
        "checkpoints": run.checkpoints,
    })
}

/// One step's log as the ledger recorded it (the path is read only through [`crate::confine`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepLog {
    /// `stage/step`.
    pub name: String,
    /// The path the ledger recorded, relative to the project.
    pub log: String,
    /// Seq of the entry that recorded it, so a refusal can name the entry.
    pub seq: Option<u64>,
}

/// The steps `want` names, with a log: an exact step name, `stage/name` or stage name
/// first; else a prefix of one of those, which must name one step or one stage. `None`
/// selects every step's log.
pub fn select_logs(run: &Run, want: Option<&str>) -> Result<Vec<StepLog>, String> {
    let all: Vec<(String, String, StepLog)> = run
        .stages
        .iter()
        .flat_map(|stage| {
            stage.steps.iter().filter_map(|s| {
                let log = StepLog {
                    name: format!("{}/{}", stage.name, s.name),
                    log: s.log.clone()?,
                    seq: s.log_seq,
                };
                Some((stage.name.clone(), s.name.clone(), log))
            })
        })
        .collect();
    let Some(want) = want else {
        if all.is_empty() {
            return Err(format!("run {} has no step logs yet", run.id));
        }
        return Ok(all.into_iter().map(|(_, _, s)| s).collect());
    };
    let exact: Vec<StepLog> = all
        .iter()
        .filter(|(stage, step, sel)| *step == want || sel.name == want || *stage == want)
        .map(|(_, _, s)| s.clone())
        .collect();
    if !exact.is_empty() {
        return Ok(exact);
    }
    let prefixed: Vec<&(String, String, StepLog)> = all
        .iter()
        .filter(|(stage, step, sel)| {
            step.starts_with(want) || sel.name.starts_with(want) || stage.starts_with(want)
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
    let names: Vec<&str> = all.iter().map(|(_, _, s)| s.name.as_str()).collect();
    Err(if prefixed.is_empty() {
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
                .map(|(_, _, s)| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_state::{StageRun, StepRun};

    fn run() -> Run {
        let step = |name: &str, log: Option<&str>| StepRun {
            name: name.into(),
            log: log.map(str::to_string),
            log_seq: Some(7),
            ..StepRun::default()
        };
        Run {
            id: "r1".into(),
            stages: vec![
                StageRun {
                    name: "ci".into(),
                    steps: vec![
                        step("test", Some(".gantry/runs/r1/ci/01-test.log")),
                        step("lint", Some(".gantry/runs/r1/ci/02-lint.log")),
                        step("none", None),
                    ],
                    ..StageRun::default()
                },
                StageRun {
                    name: "ship".into(),
                    steps: vec![step("deploy", Some(".gantry/runs/r1/ship/01-deploy.log"))],
                    ..StageRun::default()
                },
            ],
            ..Run::default()
        }
    }

    fn names(v: Vec<StepLog>) -> Vec<String> {
        v.into_iter().map(|s| s.name).collect()
    }

    #[test]
    fn steps_are_selected_by_name_stage_or_unique_prefix() {
        let r = run();
        assert_eq!(names(select_logs(&r, None).unwrap()).len(), 3);
        assert_eq!(
            names(select_logs(&r, Some("ci/test")).unwrap()),
            ["ci/test"]
        );
        assert_eq!(
            names(select_logs(&r, Some("ci")).unwrap()),
            ["ci/test", "ci/lint"]
        );
        assert_eq!(
            names(select_logs(&r, Some("dep")).unwrap()),
            ["ship/deploy"]
        );
        let err = select_logs(&r, Some("nothing")).unwrap_err();
        assert!(
            err.contains("no step 'nothing'") && err.contains("ci/lint"),
            "{err}"
        );
    }

    #[test]
    fn runs_are_found_by_id_prefix_or_last() {
        let mut runs = Runs::default();
        assert!(find_run(&runs, "last").unwrap_err().contains("no runs"));
        for id in ["20261201T1", "20261202T1"] {
            runs.runs.insert(
                id.into(),
                Run {
                    id: id.into(),
                    ..Run::default()
                },
            );
        }
        assert_eq!(find_run(&runs, "last").unwrap().id, "20261202T1");
        assert!(find_run(&runs, "x").unwrap_err().contains("no run 'x'"));
    }
}
