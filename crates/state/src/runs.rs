//! Pipeline runs folded from `pipeline.*`, `stage.*`, `step.*`, `artefacts.*`,
//! `checkpoint.*` and `budget.*` entries.
//!
//! Liveness is not the fold's business: a run whose process died leaves no terminal entry
//! and folds as `running`. The run records its `pid`, the process's start time and `host`
//! when it starts (and when it resumes), since a pid alone may have been reused; callers that can look at processes pass a liveness check to
//! [`Runs::mark_interrupted`], and gantry records the finding as a
//! `pipeline.state.interrupted` entry so that later replays agree without that check.

use std::collections::BTreeMap;

use gantry_ledger::Entry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::str_field;

/// Every run, by id (ids start with their UTC start time, so this is chronological).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runs {
    pub runs: BTreeMap<String, Run>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    Running,
    Succeeded,
    Failed,
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed)
    }
}

/// One run of a pipeline, across its resumptions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub pipeline: String,
    pub status: RunStatus,
    pub started: String,
    pub ended: Option<String>,
    pub duration_ms: Option<u64>,
    /// The process currently (or last) executing the run, for liveness checks.
    pub pid: u32,
    /// Start time of that process (clock ticks since boot, Linux `/proc/<pid>/stat` field
    /// 22), so that a reused pid is not taken for the run's process. `None` where unknown.
    #[serde(default)]
    pub pid_start: Option<u64>,
    pub host: String,
    /// sha256 of the pipeline's definition the run (or its latest resumption) executed, so a
    /// resume can refuse a changed pipeline. `None` for runs recorded before it was kept.
    #[serde(default)]
    pub config_sha256: Option<String>,
    /// Agent id that started the run.
    pub started_by: String,
    /// 1 + the number of resumptions.
    pub attempts: u32,
    pub reason: Option<String>,
    pub stages: Vec<StageRun>,
    pub checkpoints: Vec<CheckpointRun>,
    pub tokens_used: u64,
    pub manifest: Option<Manifest>,
    pub budget_exceeded: Option<String>,
    /// Seq of the entry that ended the run, if any.
    pub ended_seq: Option<u64>,
    /// Entries about this run whose signer may not write their kind; they changed nothing.
    #[serde(default)]
    pub ignored: Vec<crate::Rejection>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageRun {
    pub name: String,
    /// `running`, `succeeded`, `failed`, `skipped`.
    pub status: String,
    pub reason: Option<String>,
    pub duration_ms: Option<u64>,
    pub steps: Vec<StepRun>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub index: u64,
    pub name: String,
    /// `running`, `succeeded`, `failed`, `timed_out`, `skipped`.
    pub status: String,
    pub attempts: u32,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<u64>,
    pub log: Option<String>,
    pub log_sha256: Option<String>,
    /// Seq of the entry that recorded `log`, so a reader that refuses the path can name it.
    #[serde(default)]
    pub log_seq: Option<u64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRun {
    pub stage: String,
    pub role: String,
    /// `built_in`, `command` or `manual`.
    pub mode: String,
    /// `waiting`, `signed`, `vetoed`, `timed_out`.
    pub status: String,
    pub requested_seq: u64,
    pub summary_required: bool,
    /// Agent id and key fingerprint of the signer (or vetoer).
    pub signer: Option<String>,
    pub key: Option<String>,
    pub summary: Option<String>,
    pub refusals: Vec<Refusal>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub fingerprint: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub path: String,
    pub sha256: String,
    pub files: u64,
}

fn u64_field(body: &Value, name: &str) -> Option<u64> {
    body.get(name).and_then(Value::as_u64)
}

fn opt_str(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

impl Runs {
    pub(crate) fn apply(&mut self, entry: &Entry) {
        let body = &entry.body;
        let kind = entry.kind.as_str();
        let id = str_field(body, "run");
        if id.is_empty() {
            return;
        }
        if kind == "pipeline.state.started" {
            self.runs.insert(
                id.clone(),
                Run {
                    id,
                    pipeline: str_field(body, "pipeline"),
                    started: entry.ts.clone(),
                    pid: u64_field(body, "pid").unwrap_or(0) as u32,
                    pid_start: u64_field(body, "pid_start"),
                    host: str_field(body, "host"),
                    config_sha256: opt_str(body, "config_sha256"),
                    started_by: entry.actor.id.clone(),
                    attempts: 1,
                    ..Run::default()
                },
            );
            return;
        }
        let Some(run) = self.runs.get_mut(&id) else {
            return;
        };
        match kind {
            "pipeline.state.resumed" => {
                run.status = RunStatus::Running;
                run.pid = u64_field(body, "pid").unwrap_or(0) as u32;
                run.pid_start = u64_field(body, "pid_start");
                run.host = str_field(body, "host");
                run.config_sha256 = opt_str(body, "config_sha256");
                run.attempts += 1;
                run.ended = None;
                run.ended_seq = None;
                run.reason = None;
                run.budget_exceeded = None;
            }
            "pipeline.state.succeeded" | "pipeline.state.failed" | "pipeline.state.interrupted" => {
                run.status = match kind {
                    "pipeline.state.succeeded" => RunStatus::Succeeded,
                    "pipeline.state.failed" => RunStatus::Failed,
                    _ => RunStatus::Interrupted,
                };
                run.ended = Some(entry.ts.clone());
                run.ended_seq = Some(entry.seq);
                run.duration_ms = u64_field(body, "duration_ms").or(run.duration_ms);
                run.reason = opt_str(body, "reason");
            }
            "budget.exceeded" => {
                run.budget_exceeded = Some(str_field(body, "detail"));
            }
            "artefacts.manifest" => {
                run.manifest = Some(Manifest {
                    path: str_field(body, "path"),
                    sha256: str_field(body, "sha256"),
                    files: u64_field(body, "files").unwrap_or(0),
                });
            }
            _ if kind.starts_with("stage.state.") => {
                let stage = stage_mut(run, &str_field(body, "stage"));
                let status = &kind["stage.state.".len()..];
                if status == "started" {
                    // A resumed stage starts over.
                    stage.steps.clear();
                    stage.reason = None;
                    stage.duration_ms = None;
                }
                stage.status = status.to_string();
                stage.reason = opt_str(body, "reason").or(stage.reason.take());
                stage.duration_ms = u64_field(body, "duration_ms");
            }
            _ if kind.starts_with("step.state.") => apply_step(run, entry),
            _ if kind.starts_with("checkpoint.") => apply_checkpoint(run, entry),
            _ => {}
        }
    }

    /// Marks runs still `running` whose process is gone as `interrupted`, and returns their
    /// ids. `is_alive` gets each running run and says whether its process still runs.
    pub fn mark_interrupted(&mut self, is_alive: impl Fn(&Run) -> bool) -> Vec<String> {
        let mut marked = Vec::new();
        for run in self.runs.values_mut() {
            if run.status == RunStatus::Running && !is_alive(run) {
                run.status = RunStatus::Interrupted;
                run.reason = Some(format!(
                    "the gantry process (pid {} on {}) is gone",
                    run.pid, run.host
                ));
                marked.push(run.id.clone());
            }
        }
        marked
    }

    /// The run with this id, or the only run whose id starts with it.
    pub fn find(&self, id: &str) -> Option<&Run> {
        if let Some(run) = self.runs.get(id) {
            return Some(run);
        }
        let mut matches = self.runs.values().filter(|r| r.id.starts_with(id));
        match (matches.next(), matches.next()) {
            (Some(run), None) => Some(run),
            _ => None,
        }
    }
}

fn stage_mut<'a>(run: &'a mut Run, name: &str) -> &'a mut StageRun {
    if let Some(i) = run.stages.iter().position(|s| s.name == name) {
        return &mut run.stages[i];
    }
    run.stages.push(StageRun {
        name: name.to_string(),
        ..StageRun::default()
    });
    let last = run.stages.len() - 1;
    &mut run.stages[last]
}

fn apply_step(run: &mut Run, entry: &Entry) {
    let body = &entry.body;
    let status = &entry.kind["step.state.".len()..];
    let stage = stage_mut(run, &str_field(body, "stage"));
    let index = u64_field(body, "step").unwrap_or(0);
    let step = match stage.steps.iter().position(|s| s.index == index) {
        Some(i) => &mut stage.steps[i],
        None => {
            stage.steps.push(StepRun {
                index,
                name: str_field(body, "name"),
                ..StepRun::default()
            });
            let last = stage.steps.len() - 1;
            &mut stage.steps[last]
        }
    };
    if status == "retried" {
        return;
    }
    step.status = status.to_string();
    if status == "started" {
        step.attempts = u64_field(body, "attempt").unwrap_or(1) as u32;
        // Known from the start, so `gantry logs` can show a step while it runs.
        if let Some(log) = opt_str(body, "log") {
            step.log = Some(log);
            step.log_seq = Some(entry.seq);
        }
        return;
    }
    step.exit_code = body.get("exit_code").and_then(Value::as_i64);
    step.duration_ms = u64_field(body, "duration_ms");
    step.log = opt_str(body, "log");
    step.log_seq = step.log.as_ref().map(|_| entry.seq);
    step.log_sha256 = opt_str(body, "log_sha256");
    step.reason = opt_str(body, "reason");
}

fn apply_checkpoint(run: &mut Run, entry: &Entry) {
    let body = &entry.body;
    let stage = str_field(body, "stage");
    if entry.kind == "checkpoint.requested" {
        run.checkpoints.retain(|c| c.stage != stage);
        run.checkpoints.push(CheckpointRun {
            stage,
            role: str_field(body, "role"),
            mode: str_field(body, "mode"),
            status: "waiting".to_string(),
            requested_seq: entry.seq,
            summary_required: body.get("summary_required").and_then(Value::as_bool) == Some(true),
            ..CheckpointRun::default()
        });
        return;
    }
    let Some(cp) = run.checkpoints.iter_mut().rev().find(|c| c.stage == stage) else {
        return;
    };
    match entry.kind.as_str() {
        "checkpoint.signed" | "checkpoint.vetoed" if cp.status == "waiting" => {
            cp.status = if entry.kind == "checkpoint.signed" {
                "signed"
            } else {
                "vetoed"
            }
            .to_string();
            cp.signer = Some(entry.actor.id.clone());
            cp.key = Some(entry.actor.key.clone());
            cp.summary = opt_str(body, "summary");
            run.tokens_used += u64_field(body, "tokens_used").unwrap_or(0);
        }
        // No decision in time: the run failed on it, and a late `gantry sign` must not
        // find the checkpoint still waiting.
        "checkpoint.timed_out" if cp.status == "waiting" => {
            cp.status = "timed_out".to_string();
            cp.summary = opt_str(body, "reason");
        }
        "checkpoint.refused" => cp.refusals.push(Refusal {
            fingerprint: str_field(body, "fingerprint"),
            reason: str_field(body, "reason"),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use gantry_ledger::Entry;
    use serde_json::json;

    use super::*;

    fn entry(seq: u64, kind: &str, body: serde_json::Value) -> Entry {
        crate::test_entry(seq, "operator", kind, body)
    }

    #[test]
    fn process_identity_and_definition_hash_follow_the_latest_attempt() {
        let mut runs = Runs::default();
        runs.apply(&entry(1, "pipeline.state.started",
            json!({"run": "r", "pipeline": "p", "pid": 10, "pid_start": 500, "host": "h", "config_sha256": "aa"})));
        let run = &runs.runs["r"];
        assert_eq!(
            (run.pid, run.pid_start, run.config_sha256.as_deref()),
            (10, Some(500), Some("aa"))
        );
        runs.apply(&entry(2, "pipeline.state.interrupted", json!({"run": "r"})));
        runs.apply(&entry(
            3,
            "pipeline.state.resumed",
            json!({"run": "r", "pid": 11, "pid_start": 900, "host": "h", "config_sha256": "bb"}),
        ));
        let run = &runs.runs["r"];
        assert_eq!(
            (run.pid, run.pid_start, run.config_sha256.as_deref()),
            (11, Some(900), Some("bb"))
        );
        // Entries written before these fields existed fold to "unknown".
        runs.apply(&entry(
            4,
            "pipeline.state.started",
            json!({"run": "old", "pid": 12}),
        ));
        assert_eq!(runs.runs["old"].pid_start, None);
        assert_eq!(runs.runs["old"].config_sha256, None);
    }

    #[test]
    fn a_timed_out_checkpoint_takes_no_late_signature() {
        let mut runs = Runs::default();
        runs.apply(&entry(
            1,
            "pipeline.state.started",
            json!({"run": "r", "pid": 1}),
        ));
        runs.apply(&entry(
            2,
            "checkpoint.requested",
            json!({"run": "r", "stage": "build", "role": "verifier", "mode": "manual"}),
        ));
        runs.apply(&entry(
            3,
            "checkpoint.timed_out",
            json!({"run": "r", "stage": "build", "reason": "no signature within 1s"}),
        ));
        runs.apply(&entry(
            4,
            "checkpoint.signed",
            json!({"run": "r", "stage": "build"}),
        ));
        let cp = &runs.runs["r"].checkpoints[0];
        assert_eq!(cp.status, "timed_out");
        assert_eq!(cp.summary.as_deref(), Some("no signature within 1s"));
        assert_eq!(cp.signer, None);
    }
}
