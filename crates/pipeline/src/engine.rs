//! A run: its setup (id, directory, masking, ledger writer), the stage scheduler over the
//! `needs` DAG bounded by `jobs`, the time budget, and the terminal entry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gantry_config::{Condition, Config, Pipeline};
use gantry_ledger::{Ledger, Signer};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::actions::Actions;
use crate::budget;
use crate::error::PipelineError;
use crate::events::{Event, Observer};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::mask::Masker;
use crate::recorder::Recorder;
use crate::running::RunningGroups;

/// Loads the signer of a role (its registered, active key), or says why not.
pub type SignerSource = Box<dyn Fn(&str) -> Result<Signer, String> + Send + Sync>;

/// The environment variable in which the control plane passes the API caller to the runs
/// it starts (`POST /v1/pipelines/{pipeline}/runs`), as JSON `{"role", "token"}`.
pub const CALLER_ENV: &str = "GANTRY_RUN_CALLER";

/// What to run.
pub struct RunRequest {
    /// Project root: steps run here (or in their `cwd` below it).
    pub root: PathBuf,
    pub config: Config,
    pub pipeline: String,
    /// Most stages running at once (at least 1).
    pub jobs: usize,
    /// A previous run to continue (its folded state); `None` starts a new run.
    pub resume: Option<gantry_state::Run>,
    /// The process environment, for finding secrets to mask.
    pub env: BTreeMap<String, String>,
    /// Resume even if the pipeline's definition changed since the run recorded it.
    pub force: bool,
    /// Who asked for the run when it was not the person at the terminal: the API caller
    /// (`{"role", "token"}`) that had the control plane start it. Recorded in the start
    /// entry, as the control plane records the caller of a deployment.
    pub caller: Option<serde_json::Value>,
}

/// What the engine needs from its host.
pub struct Services {
    pub ledger: Arc<Ledger>,
    /// Signs run, stage and step entries.
    pub operator: Signer,
    /// Signs checkpoint decisions of built-in and external agents.
    pub signers: SignerSource,
    pub actions: Arc<dyn Actions>,
    pub observer: Arc<dyn Observer>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub run: String,
    pub succeeded: bool,
    pub reason: Option<String>,
    pub duration_ms: u64,
    pub dir: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StageEnd {
    Succeeded,
    Failed,
    Skipped,
}

/// Mutable facts of a run shared by its stages.
#[derive(Default)]
pub(crate) struct Shared {
    pub failed: bool,
    pub first_failure: Option<String>,
    pub failed_steps: Vec<String>,
    pub passed_steps: usize,
    pub tokens: u64,
    pub manifest: Manifest,
    pub git_baseline: BTreeSet<String>,
}

pub(crate) struct Ctx {
    pub run: String,
    pub pipeline_name: String,
    pub pipeline: Pipeline,
    pub config: Config,
    pub root: PathBuf,
    pub run_dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub recorder: Recorder,
    pub operator: Arc<Signer>,
    pub signers: SignerSource,
    pub actions: Arc<dyn Actions>,
    pub observer: Arc<dyn Observer>,
    pub shared: Mutex<Shared>,
    pub stop_tx: watch::Sender<Option<String>>,
    /// The process groups of the run's running steps (`<run>/running`).
    pub running: RunningGroups,
}

impl Ctx {
    pub fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Shows an event, masked like a ledger body.
    pub fn emit(&self, event: Event) {
        self.observer.event(&event.masked(self.recorder.masker()));
    }

    /// Where a stage's step logs go. The name is masked first: secrets never reach file
    /// names, and the ledger records the path masked anyway.
    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.run_dir.join(self.recorder.masker().mask(stage))
    }

    /// Marks the run failed, keeping the first reason for the run's record.
    pub fn fail(&self, reason: &str) {
        let mut shared = self.shared();
        shared.failed = true;
        if shared.first_failure.is_none() {
            shared.first_failure = Some(reason.to_string());
        }
    }

    pub fn stopped(&self) -> Option<String> {
        self.stop_tx.borrow().clone()
    }

    /// Stops the run: running steps are killed, nothing new starts.
    pub fn stop(&self, reason: &str) {
        self.fail(reason);
        self.stop_tx.send_if_modified(|cur| {
            if cur.is_none() {
                *cur = Some(reason.to_string());
                true
            } else {
                false
            }
        });
    }

    /// Records a budget overrun and stops the run.
    pub fn exceed(&self, budget: &str, limit: &str, detail: &str) {
        if self.stopped().is_some() {
            return;
        }
        let detail = self.recorder.masker().mask(detail);
        self.recorder.record(
            &self.operator,
            "budget.exceeded",
            &json!({"run": self.run, "budget": budget, "limit": limit, "detail": detail}),
        );
        self.emit(Event::BudgetExceeded {
            run: self.run.clone(),
            budget: budget.to_string(),
            detail: detail.clone(),
        });
        self.stop(&format!("budget exceeded ({budget}): {detail}"));
    }

    /// The run directory relative to the root, as recorded in the ledger.
    pub fn rel(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }
}

fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}-{:04x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        rand::random::<u16>()
    )
}

/// Runs (or resumes) a pipeline to its end and records every transition.
pub async fn execute(req: RunRequest, services: Services) -> Result<RunOutcome, PipelineError> {
    let started = Instant::now();
    let pipeline = req
        .config
        .pipelines
        .get(&req.pipeline)
        .ok_or_else(|| PipelineError::UnknownPipeline {
            name: req.pipeline.clone(),
            known: req
                .config
                .pipelines
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })?
        .value
        .clone();
    let deps = pipeline
        .dependencies()
        .and_then(|d| pipeline.stage_order().map(|_| d))
        .map_err(|e| PipelineError::Order(req.pipeline.clone(), e))?;

    // Known before the first step starts: a step may print another step's secret.
    let masker = Masker::for_pipeline(&pipeline, &req.env);
    let definition = crate::definition::definition_sha256(&pipeline, &masker);
    let recorder = Recorder::new(services.ledger.clone(), masker);
    let operator = Arc::new(services.operator);

    let resumed = req.resume.is_some();
    let run = match &req.resume {
        Some(prior) => {
            if prior.status.is_finished() && prior.status == gantry_state::RunStatus::Succeeded {
                return Err(PipelineError::NotResumable {
                    run: prior.id.clone(),
                    reason: "it already succeeded".into(),
                });
            }
            crate::definition::check_unchanged(prior, &definition, req.force)?;
            prior.id.clone()
        }
        None => new_run_id(),
    };
    let run_dir = crate::rundir::prepare(&req.root, &run)?;
    let manifest = Manifest::load(&run_dir.join(MANIFEST_FILE))?;
    let mut env = pipeline.env.clone();
    if let Some(tools) = &pipeline.budget.tools {
        let search = env
            .get("PATH")
            .map(std::ffi::OsString::from)
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let names: Vec<String> = tools.iter().map(|t| t.value.clone()).collect();
        let bin = crate::tools::prepare_bin(&run_dir, &names, &search)?;
        env.insert("PATH".into(), bin.to_string_lossy().into_owned());
    }

    let mut done: Vec<Option<StageEnd>> = vec![None; pipeline.stages.len()];
    let mut completed = Vec::new();
    if let Some(prior) = &req.resume {
        for (i, stage) in pipeline.stages.iter().enumerate() {
            let ok = prior
                .stages
                .iter()
                .any(|s| s.name == *stage.name && s.status == "succeeded");
            if ok {
                done[i] = Some(StageEnd::Succeeded);
                completed.push(stage.name.value.clone());
            }
        }
    }

    let git_baseline = if budget::watches_files(&pipeline.budget) {
        budget::changed_paths(&req.root)?
    } else {
        BTreeSet::new()
    };
    let host = crate::liveness::host_name();
    let pid = std::process::id();
    let body = json!({
        "run": run,
        "pipeline": req.pipeline,
        "pid": pid,
        "pid_start": crate::liveness::process_start_time(pid),
        "host": host,
        "config_sha256": definition,
        "jobs": req.jobs,
        "stages": pipeline.stages.iter().map(|s| s.name.value.clone()).collect::<Vec<_>>(),
        "completed": completed,
    });
    let mut body = body;
    if let Some(caller) = &req.caller {
        body["caller"] = caller.clone();
    }
    let kind = if resumed {
        "pipeline.state.resumed"
    } else {
        "pipeline.state.started"
    };
    recorder.commit(&operator, kind, &body).await?;

    let (stop_tx, _) = watch::channel(None);
    let ctx = Arc::new(Ctx {
        run: run.clone(),
        pipeline_name: req.pipeline.clone(),
        pipeline: pipeline.clone(),
        config: req.config,
        root: req.root.clone(),
        run_dir: run_dir.clone(),
        env,
        recorder: recorder.clone(),
        operator: operator.clone(),
        signers: services.signers,
        actions: services.actions,
        observer: services.observer,
        shared: Mutex::new(Shared {
            manifest,
            git_baseline,
            ..Shared::default()
        }),
        stop_tx,
        running: RunningGroups::new(run_dir.join("running")),
    });
    ctx.emit(Event::RunStarted {
        run: run.clone(),
        pipeline: req.pipeline.clone(),
        dir: ctx.rel(&run_dir),
        resumed,
    });

    let schedule = schedule(ctx.clone(), deps, done, req.jobs.max(1));
    tokio::pin!(schedule);
    match pipeline.budget.time {
        Some(limit) => {
            let limit_d: Duration = limit.into();
            tokio::select! {
                () = &mut schedule => {}
                () = tokio::time::sleep(limit_d) => {
                    ctx.exceed("time", &limit.to_string(), &format!("the run took longer than {limit}"));
                    schedule.await;
                }
            }
        }
        None => schedule.await,
    }

    let duration_ms = started.elapsed().as_millis() as u64;
    let (failed, reason) = {
        let shared = ctx.shared();
        (shared.failed, shared.first_failure.clone())
    };
    let reason = reason.map(|r| recorder.masker().mask(&r));
    let kind = if failed {
        "pipeline.state.failed"
    } else {
        "pipeline.state.succeeded"
    };
    recorder
        .commit(
            &operator,
            kind,
            &json!({"run": run, "duration_ms": duration_ms, "reason": reason}),
        )
        .await?;
    ctx.emit(Event::RunFinished {
        run: run.clone(),
        status: if failed { "failed" } else { "succeeded" }.to_string(),
        duration_ms,
        reason: reason.clone(),
    });
    Ok(RunOutcome {
        run,
        succeeded: !failed,
        reason,
        duration_ms,
        dir: run_dir,
    })
}

/// Starts each stage once everything it needs has ended, at most `jobs` at a time; decides
/// skips by the stage's `if:` (a `success()` stage also needs its needs to have succeeded).
async fn schedule(
    ctx: Arc<Ctx>,
    deps: Vec<Vec<usize>>,
    mut done: Vec<Option<StageEnd>>,
    jobs: usize,
) {
    let n = done.len();
    let mut started = vec![false; n];
    for (i, d) in done.iter().enumerate() {
        started[i] = d.is_some();
    }
    let mut running: JoinSet<(usize, StageEnd)> = JoinSet::new();
    loop {
        let mut progressed = true;
        while progressed {
            progressed = false;
            for i in 0..n {
                if started[i] || !deps[i].iter().all(|&d| done[d].is_some()) {
                    continue;
                }
                if ctx.stopped().is_some() {
                    break;
                }
                let stage = &ctx.pipeline.stages[i];
                let condition = stage.condition.unwrap_or_default();
                let needs_ok = deps[i]
                    .iter()
                    .all(|&d| done[d] == Some(StageEnd::Succeeded));
                let failed = ctx.shared().failed;
                let run_it = match condition {
                    Condition::Success => needs_ok && !failed,
                    Condition::Failure => failed,
                    Condition::Always => true,
                };
                if !run_it {
                    let reason = if condition == Condition::Success && !needs_ok {
                        "a stage it needs did not succeed".to_string()
                    } else {
                        format!("condition {condition} is false")
                    };
                    crate::stage::record_skip(&ctx, i, &reason);
                    started[i] = true;
                    done[i] = Some(StageEnd::Skipped);
                    progressed = true;
                    continue;
                }
                if running.len() >= jobs {
                    break;
                }
                started[i] = true;
                progressed = true;
                let ctx = ctx.clone();
                running.spawn(async move { (i, crate::stage::run_stage(&ctx, i).await) });
            }
        }
        match running.join_next().await {
            Some(Ok((i, end))) => done[i] = Some(end),
            Some(Err(e)) => {
                ctx.fail(&format!("a stage task failed: {e}"));
            }
            None => break,
        }
    }
}
