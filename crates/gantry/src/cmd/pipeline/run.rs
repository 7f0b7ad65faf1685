//! `gantry run [PIPELINE] [--jobs N] | --resume ID`

use std::sync::{Arc, Mutex};

use gantry_pipeline::{Event, Observer, PipelineError, RunRequest, Services};
use gantry_state::RunStatus;

use super::actions::ControlPlane;
use super::view::View;
use super::{RunArgs, operator, reconciled_state, report};
use crate::exit;
use crate::project::Project;

pub fn run(project: &Project, args: &RunArgs, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let state = reconciled_state(project, &config)?;
    let (pipeline, resume) = match &args.resume {
        Some(id) => {
            let prior = state
                .runs
                .find(id)
                .ok_or_else(|| {
                    exit::usage(format!("no run '{id}' in the ledger (see `gantry runs`)"))
                })?
                .clone();
            match prior.status {
                RunStatus::Running => {
                    return Err(exit::usage(format!(
                        "run {} is still running (pid {} on {}); wait for it or stop it first",
                        prior.id, prior.pid, prior.host
                    )));
                }
                RunStatus::Succeeded => {
                    return Err(exit::usage(format!(
                        "run {} already succeeded; nothing to resume",
                        prior.id
                    )));
                }
                _ => {}
            }
            (prior.pipeline.clone(), Some(prior))
        }
        None => match &args.pipeline {
            Some(name) => (name.clone(), None),
            None if config.pipelines.len() == 1 => (
                config.pipelines.keys().next().cloned().unwrap_or_default(),
                None,
            ),
            None => {
                return Err(exit::usage(format!(
                    "name the pipeline to run: {}",
                    config
                        .pipelines
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
    };
    let ledger = Arc::new(project.open_ledger(&config)?);
    let operator = operator(project, &state)?;
    let root = project.root.clone();
    let keys_state = state.clone();
    let signers = Box::new(move |role: &str| {
        Project { root: root.clone() }
            .signer_for(&keys_state, role)
            .map(|(signer, _)| signer)
            .map_err(|e| e.to_string())
    });
    let view = Arc::new(View::new(json));
    let tap = Arc::new(RunIdTap {
        view: view.clone(),
        run: Mutex::new(None),
        steps_running: std::sync::atomic::AtomicUsize::new(0),
    });
    let on_interrupt = (tap.clone(), project.gantry_dir());
    crate::cmd::interrupt::on_ctrl_c(json, move || {
        let (tap, gantry_dir) = on_interrupt;
        interrupted(&tap, &gantry_dir)
    })?;
    let request = RunRequest {
        root: project.root.clone(),
        config: config.clone(),
        pipeline,
        jobs: args
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
        resume,
        env: std::env::vars().collect(),
        force: args.force,
        caller: api_caller()?,
    };
    let services = Services {
        ledger,
        operator,
        signers,
        actions: Arc::new(ControlPlane::new(project.root.clone(), config.clone())),
        observer: tap,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let before = super::notify::mark(project);
    let outcome = runtime
        .block_on(gantry_pipeline::execute(request, services))
        .map_err(|e| match e {
            PipelineError::UnknownPipeline { .. }
            | PipelineError::Order(..)
            | PipelineError::UnknownRun(_)
            | PipelineError::NotResumable { .. }
            | PipelineError::DefinitionChanged { .. } => exit::usage(e),
            other => exit::failed(other),
        })?;
    view.finish();
    super::notify::after_run(project, &config, &outcome.run, before, &runtime, json);
    report::write_all(project, &config)?;
    if outcome.succeeded {
        Ok(())
    } else {
        Err(exit::failed(format!(
            "run {} failed: {}",
            outcome.run,
            outcome
                .reason
                .unwrap_or_else(|| "see `gantry runs show`".into())
        )))
    }
}

/// The view, noting the run's id as it starts, for the Ctrl-C message.
struct RunIdTap {
    view: Arc<View>,
    run: Mutex<Option<String>>,
    /// Steps started and not finished, so Ctrl-C knows whether a group is still to be
    /// found in the run's record.
    steps_running: std::sync::atomic::AtomicUsize,
}

impl Observer for RunIdTap {
    fn event(&self, event: &Event) {
        if let Event::RunStarted { run, .. } = event
            && let Ok(mut slot) = self.run.lock()
        {
            *slot = Some(run.clone());
        }
        use std::sync::atomic::Ordering::SeqCst;
        match event {
            Event::StepStarted { .. } => {
                self.steps_running.fetch_add(1, SeqCst);
            }
            Event::StepFinished { .. } => {
                let _ = self
                    .steps_running
                    .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1));
            }
            _ => {}
        }
        self.view.event(event);
    }
}

/// Ctrl-C during a run: its steps run in process groups of their own (the terminal's
/// SIGINT does not reach them), so stop them here, then say how to go on.
fn interrupted(tap: &RunIdTap, gantry_dir: &std::path::Path) -> anyhow::Error {
    tap.view.finish();
    let run = tap.run.lock().ok().and_then(|r| r.clone());
    let Some(run) = run else {
        return exit::with_code(exit::INTERRUPTED, "interrupted before the run started");
    };
    let record = gantry_dir.join("runs").join(&run).join("running");
    let mut stopped = gantry_pipeline::kill_leftovers(&record);
    // A step that has just started may not be in the record yet: look again, briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while stopped == 0
        && tap.steps_running.load(std::sync::atomic::Ordering::SeqCst) > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        stopped = gantry_pipeline::kill_leftovers(&record);
    }
    exit::hint(
        exit::with_code(
            exit::INTERRUPTED,
            format!(
                "interrupted: run {run} stopped ({stopped} running step(s) killed); \
                 continue it from its first unfinished stage with `gantry run --resume {run}`"
            ),
        ),
        format!("gantry run --resume {run}"),
    )
}

/// The API caller the control plane started this run for, if it did: `{"role", "token"}`.
fn api_caller() -> anyhow::Result<Option<serde_json::Value>> {
    use gantry_pipeline::CALLER_ENV;
    let Some(text) = std::env::var_os(CALLER_ENV) else {
        return Ok(None);
    };
    let value: serde_json::Value = serde_json::from_str(&text.to_string_lossy())
        .map_err(|e| exit::usage(format!("{CALLER_ENV} is not JSON: {e}")))?;
    if !(value["role"].is_string() && value["token"].is_string()) {
        return Err(exit::usage(format!(
            "{CALLER_ENV} must be {{\"role\": ROLE, \"token\": NAME}}, not {value}"
        )));
    }
    Ok(Some(value))
}
