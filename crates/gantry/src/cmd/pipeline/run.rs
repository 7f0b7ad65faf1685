//! `gantry run [PIPELINE] [--jobs N] | --resume ID`

use std::sync::Arc;

use gantry_pipeline::{PipelineError, RunRequest, Services};
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
    };
    let services = Services {
        ledger,
        operator,
        signers,
        actions: Arc::new(ControlPlane::new(project.root.clone(), config.clone())),
        observer: view.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
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
