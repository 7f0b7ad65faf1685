//! One stage: its steps in order (with `if:`, retries, timeouts, artefacts, the files
//! budget), then its checkpoint.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_config::{Condition, Step, StepAction};
use serde_json::json;

use crate::actions::action_name;
use crate::engine::{Ctx, StageEnd};
use crate::events::Event;
use crate::exec::{ProcessEnd, ProcessSpec, StepLog, run_process};
use crate::manifest::{self, MANIFEST_FILE, sha256_file};

pub(crate) fn record_skip(ctx: &Ctx, i: usize, reason: &str) {
    let stage = ctx.pipeline.stages[i].name.value.clone();
    ctx.recorder.record(
        &ctx.operator,
        "stage.state.skipped",
        &json!({"run": ctx.run, "stage": stage, "reason": reason}),
    );
    ctx.emit(Event::StageFinished {
        run: ctx.run.clone(),
        stage,
        status: "skipped".into(),
        reason: Some(reason.to_string()),
    });
}

/// A file name for a step: its name (masked by the caller) with anything but letters,
/// digits, `-` and `_` turned into `-`, at most 40 characters. The name rather than the
/// index alone, so `ls` of a run says which log is which; masking comes first because
/// slugging would change a secret's characters (and cutting at 40 could keep a prefix of
/// it) so that masking afterwards would no longer find it.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-');
    let s: String = s.chars().take(40).collect();
    if s.is_empty() { "step".into() } else { s }
}

pub(crate) async fn run_stage(ctx: &Arc<Ctx>, i: usize) -> StageEnd {
    let stage = &ctx.pipeline.stages[i];
    let name = stage.name.value.clone();
    let started = Instant::now();
    ctx.recorder.record(
        &ctx.operator,
        "stage.state.started",
        &json!({"run": ctx.run, "stage": name}),
    );
    ctx.emit(Event::StageStarted {
        run: ctx.run.clone(),
        stage: name.clone(),
    });

    // Refused before any step runs, so that no `failure()` step writes through it either.
    let dir_refused = crate::rundir::check_stage_dir(&ctx.stage_dir(&name)).err();
    if let Some(reason) = &dir_refused {
        ctx.fail(&format!("stage '{name}': {reason}"));
    }
    let mut stage_failed = dir_refused.clone();
    let mut manifest_changed = false;
    for (j, step) in stage.steps.iter().enumerate() {
        if ctx.stopped().is_some() || dir_refused.is_some() {
            break;
        }
        let condition = step.condition.unwrap_or_default();
        // Like a CI job's steps: a step's `if:` looks at the steps of its own stage, so the
        // steps of a `failure()` rollback stage run by default. A failure allowed by
        // `continue_on_error` does not count (as in GitHub Actions). Inside a `failure()`
        // stage, a step's `failure()` holds too: the stage runs because something failed.
        let failed_so_far = stage_failed.is_some();
        let runs_on_failure = stage.condition == Some(Condition::Failure);
        let step_name = step.display_name();
        let run_it = match condition {
            Condition::Failure => failed_so_far || runs_on_failure,
            other => other.should_run(failed_so_far),
        };
        if !run_it {
            ctx.recorder.record(
                &ctx.operator,
                "step.state.skipped",
                &json!({"run": ctx.run, "stage": name, "step": j, "name": step_name,
                        "reason": format!("condition {condition} is false")}),
            );
            continue;
        }
        let result = run_step(ctx, &name, j, step).await;
        manifest_changed |= result.artefacts;
        if let Err(reason) = result.outcome {
            if step.continue_on_error {
                continue;
            }
            let reason = format!("step '{step_name}' failed: {reason}");
            ctx.fail(&format!("stage '{name}': {reason}"));
            stage_failed.get_or_insert(reason);
        }
    }
    if let Some(reason) = ctx.stopped()
        && stage_failed.is_none()
    {
        stage_failed = Some(format!("stopped: {reason}"));
    }
    if manifest_changed {
        let path = ctx.run_dir.join(MANIFEST_FILE);
        let written = {
            let shared = ctx.shared();
            shared
                .manifest
                .write(&path)
                .map(|h| (h, shared.manifest.files.len()))
        };
        match written {
            Ok((sha256, files)) => ctx.recorder.record(
                &ctx.operator,
                "artefacts.manifest",
                &json!({"run": ctx.run, "stage": name, "path": ctx.rel(&path), "sha256": sha256, "files": files}),
            ),
            Err(e) => {
                let reason = format!("cannot write the manifest: {e}");
                ctx.fail(&reason);
                stage_failed.get_or_insert(reason);
            }
        }
    }
    if stage_failed.is_none()
        && let Some(cp) = &stage.checkpoint
        && let Err(reason) = crate::checkpoint::run_checkpoint(ctx, &name, cp).await
    {
        ctx.fail(&reason);
        stage_failed = Some(reason);
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    let (kind, status) = match &stage_failed {
        Some(_) => ("stage.state.failed", "failed"),
        None => ("stage.state.succeeded", "succeeded"),
    };
    let body =
        json!({"run": ctx.run, "stage": name, "duration_ms": duration_ms, "reason": stage_failed});
    if let Err(e) = ctx.recorder.commit(&ctx.operator, kind, &body).await {
        ctx.stop(&e.to_string());
    }
    ctx.emit(Event::StageFinished {
        run: ctx.run.clone(),
        stage: name,
        status: status.into(),
        reason: stage_failed.clone(),
    });
    if stage_failed.is_some() {
        StageEnd::Failed
    } else {
        StageEnd::Succeeded
    }
}

struct StepResult {
    outcome: Result<(), String>,
    artefacts: bool,
}

async fn run_step(ctx: &Arc<Ctx>, stage: &str, j: usize, step: &Step) -> StepResult {
    let name = step.display_name();
    let log_path = ctx.stage_dir(stage).join(format!(
        "{:02}-{}.log",
        j + 1,
        slug(&ctx.recorder.masker().mask(&name))
    ));
    let log_rel = ctx.rel(&log_path);
    let log = match StepLog::open(&log_path, ctx.recorder.masker().clone()) {
        Ok(log) => log,
        Err(e) => {
            return StepResult {
                outcome: Err(format!("cannot open log {log_rel}: {e}")),
                artefacts: false,
            };
        }
    };
    let attempts = step.retries + 1;
    let started = Instant::now();
    let mut last: (Result<(), String>, Option<i32>, &str) = (Ok(()), None, "failed");
    let mut attempt = 1;
    while attempt <= attempts {
        ctx.recorder.record(
            &ctx.operator,
            "step.state.started",
            &json!({"run": ctx.run, "stage": stage, "step": j, "name": name, "attempt": attempt, "log": log_rel}),
        );
        ctx.emit(Event::StepStarted {
            run: ctx.run.clone(),
            stage: stage.into(),
            step: j,
            name: name.clone(),
            attempt,
        });
        log.note(&format!("attempt {attempt} of {attempts}: {name}"));
        last = attempt_once(ctx, stage, j, step, &log).await;
        // A step whose log is cut did not leave the evidence a passed step must: it fails,
        // and retrying would only cut the log again.
        if let Some(e) = log.write_error() {
            let reason = match &last.0 {
                Ok(()) => format!("step log: {e}"),
                Err(r) => format!("{r}; step log: {e}"),
            };
            last = (Err(reason), last.1, "failed");
            break;
        }
        let retryable = last.0.is_err() && ctx.stopped().is_none();
        if !retryable || attempt == attempts {
            break;
        }
        let reason = last.0.as_ref().err().cloned().unwrap_or_default();
        log.note(&format!("attempt {attempt} failed ({reason}); retrying"));
        ctx.recorder.record(
            &ctx.operator,
            "step.state.retried",
            &json!({"run": ctx.run, "stage": stage, "step": j, "name": name, "attempt": attempt,
                    "exit_code": last.1, "reason": reason}),
        );
        attempt += 1;
    }
    let (mut outcome, exit_code, mut status) = last;
    let mut artefacts = false;
    if outcome.is_ok() && !step.artefacts.is_empty() {
        match hash_artefacts(ctx, step) {
            Ok(()) => artefacts = true,
            Err(reason) => {
                outcome = Err(reason);
                status = "failed";
            }
        }
    }
    if let Err(reason) = &outcome {
        log.note(&format!("step {status}: {reason}"));
    }
    let duration_ms = started.elapsed().as_millis() as u64;
    let log_sha256 = log.sha256(&log_path);
    let status = if outcome.is_ok() { "succeeded" } else { status };
    let recorded = ctx.recorder.record_noted(
        &ctx.operator,
        &format!("step.state.{status}"),
        &json!({"run": ctx.run, "stage": stage, "step": j, "name": name, "attempt": attempt,
                "exit_code": exit_code, "duration_ms": duration_ms, "log": log_rel,
                "log_sha256": log_sha256, "reason": outcome.as_ref().err()}),
    );
    // Not awaited here, so short steps keep sharing fsyncs; the view hears of it later.
    {
        let (ctx, stage, name) = (ctx.clone(), stage.to_string(), name.clone());
        tokio::spawn(async move {
            let error = match recorded.await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some("the ledger writer stopped".to_string()),
            };
            ctx.emit(Event::StepRecorded {
                run: ctx.run.clone(),
                stage,
                step: j,
                name,
                error,
            });
        });
    }
    {
        let mut shared = ctx.shared();
        if outcome.is_ok() {
            shared.passed_steps += 1;
        } else {
            shared.failed_steps.push(format!("{stage}/{name}"));
        }
    }
    ctx.emit(Event::StepFinished {
        run: ctx.run.clone(),
        stage: stage.into(),
        step: j,
        name: name.clone(),
        status: status.into(),
        exit_code,
        duration_ms,
        log: log_rel,
        reason: outcome.as_ref().err().cloned(),
    });
    check_files_budget(ctx);
    StepResult { outcome, artefacts }
}

/// One attempt: (outcome, exit code, status word for a failure).
async fn attempt_once(
    ctx: &Arc<Ctx>,
    stage: &str,
    j: usize,
    step: &Step,
    log: &StepLog,
) -> (Result<(), String>, Option<i32>, &'static str) {
    let Some(action) = step.action() else {
        return (Err("the step has no action".into()), None, "failed");
    };
    let StepAction::Run(command) = action else {
        let log_fn = |line: &str| log.note(line);
        let mut stop = ctx.stop_tx.subscribe();
        let name = action_name(&action);
        // A built-in action (a deploy waiting at a manual canary pause, say) honours the
        // step's timeout like a process does; without one it is bounded by the run budget.
        let deadline = async {
            match step.timeout {
                Some(t) => tokio::time::sleep(Duration::from(t)).await,
                None => std::future::pending().await,
            }
        };
        return tokio::select! {
            r = ctx.actions.run(action, &log_fn) => match r {
                Ok(()) => (Ok(()), None, "failed"),
                Err(e) => (Err(format!("{name}: {e}")), None, "failed"),
            },
            () = deadline => {
                let after = step.timeout.map(|t| t.to_string()).unwrap_or_default();
                log.note(&format!("{name}: timed out after {after}"));
                (Err(format!("{name}: timed out after {after}")), None, "timed_out")
            }
            _ = stop.wait_for(Option::is_some) => (Err("stopped".into()), None, "failed"),
        };
    };
    let mut env = ctx.env.clone();
    if let Some(vars) = step.env.vars() {
        env.extend(vars.clone());
    }
    // With `budget.tools` the run's bin directory stays the whole PATH: a step's own `env:`
    // may not widen it.
    if ctx.pipeline.budget.tools.is_some()
        && let Some(path) = ctx.env.get("PATH")
    {
        env.insert("PATH".into(), path.clone());
    }
    env.insert("GANTRY_RUN".into(), ctx.run.clone());
    env.insert(
        "GANTRY_RUN_DIR".into(),
        ctx.run_dir.to_string_lossy().into_owned(),
    );
    let cwd = match &step.cwd {
        Some(dir) => ctx.root.join(dir),
        None => ctx.root.clone(),
    };
    if !cwd.is_dir() {
        return (
            Err(format!(
                "working directory {} does not exist",
                ctx.rel(&cwd)
            )),
            None,
            "failed",
        );
    }
    let label = format!("{stage}/{}", step.display_name());
    let spec = ProcessSpec {
        command,
        cwd,
        env: &env,
        timeout: step.timeout.map(Duration::from),
        running: &ctx.running,
        heartbeat: step
            .heartbeat
            .map(|h| (Duration::from(h), ctx.run_dir.join("heartbeat.log"), label)),
    };
    let mut stop = ctx.stop_tx.subscribe();
    let observer = ctx.observer.clone();
    // Masked like the stage in the other events, so a view finds the step's line by it.
    let (run, stage_s) = (ctx.run.clone(), ctx.recorder.masker().mask(stage));
    let mut on_line = move |line: &str| {
        observer.event(&Event::StepOutput {
            run: run.clone(),
            stage: stage_s.clone(),
            step: j,
            line: line.to_string(),
        });
    };
    match run_process(spec, log, &mut stop, &mut on_line).await {
        ProcessEnd::Exited(0) => (Ok(()), Some(0), "failed"),
        ProcessEnd::Exited(code) => (Err(format!("exit code {code}")), Some(code), "failed"),
        ProcessEnd::TimedOut => (
            Err(format!(
                "timed out after {}",
                step.timeout.map(|t| t.to_string()).unwrap_or_default()
            )),
            None,
            "timed_out",
        ),
        ProcessEnd::Stopped(reason) => (Err(format!("stopped: {reason}")), None, "failed"),
        ProcessEnd::SpawnFailed(e) => (Err(e), None, "failed"),
    }
}

/// Hashes a succeeded step's declared artefacts into the run's manifest.
fn hash_artefacts(ctx: &Ctx, step: &Step) -> Result<(), String> {
    let mut hashed = Vec::new();
    let mut missing = Vec::new();
    for path in &step.artefacts {
        if !manifest::valid_artefact_path(path) {
            return Err(format!(
                "artefact path {path:?} must be relative to the project, without '..'"
            ));
        }
        let full = ctx.root.join(path);
        if !full.is_file() {
            missing.push(path.clone());
            continue;
        }
        hashed.push((path.clone(), sha256_file(&full).map_err(|e| e.to_string())?));
    }
    if !missing.is_empty() {
        return Err(format!(
            "declared artefacts were not produced: {}",
            missing.join(", ")
        ));
    }
    let mut shared = ctx.shared();
    shared.manifest.files.extend(hashed);
    Ok(())
}

fn check_files_budget(ctx: &Ctx) {
    let budget = &ctx.pipeline.budget;
    if !crate::budget::watches_files(budget) {
        return;
    }
    let own = vec![ctx.pipeline.report_path().to_string()];
    let result = crate::budget::changed_paths(&ctx.root).map(|now| {
        let shared = ctx.shared();
        crate::budget::check_files(budget, &shared.git_baseline, &now, &own)
    });
    match result {
        Ok(Some((kind, detail))) => {
            let limit = match kind.as_str() {
                "files" => budget.files.map(|f| f.to_string()).unwrap_or_default(),
                _ => budget.paths.join(", "),
            };
            ctx.exceed(&kind, &limit, &detail);
        }
        Ok(None) => {}
        Err(e) => ctx.exceed("files", "", &e.to_string()),
    }
}
