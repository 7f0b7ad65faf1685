//! Pipeline commands: run, sign, runs, logs, report.

mod actions;
mod live;
mod logs;
mod notify;
mod report;
mod run;
mod runs;
mod sign;
mod smoke;
mod view;

use clap::{Args, Subcommand};
use gantry_config::Config;
use gantry_ledger::Signer;
use gantry_state::State;
use serde_json::json;

use crate::project::Project;

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Run a pipeline from gantry.yaml (or resume a run)
    #[command(
        after_help = "Examples:\n  gantry run release --jobs 2\n  gantry --json run release\n  gantry run --resume 3"
    )]
    Run(RunArgs),
    /// Sign (or veto) a checkpoint a run is waiting for, as ROLE
    #[command(
        after_help = "Examples:\n  gantry sign 3 ci --as planner --summary \"plan reviewed\"\n  \
gantry sign 3 staging --as verifier --veto --summary \"smoke test flaky\""
    )]
    Sign(SignArgs),
    /// List pipeline runs with status, duration and signers; `runs show ID` for one
    #[command(after_help = "Examples:\n  gantry runs\n  gantry runs show 3\n  gantry --json runs")]
    Runs {
        #[command(subcommand)]
        command: Option<RunsCommand>,
    },
    /// Print a run's step logs (all, or those STEP names), also while they run; or, with
    /// --service, what a service's instances write to stdout/stderr
    #[command(
        after_help = "Examples:\n  gantry logs last\n  gantry logs 20261201T2351 ci/test\n  gantry logs last deploy --follow\n  gantry logs --service web\n  gantry logs --service web --instance web-v2-1 --follow"
    )]
    Logs {
        /// The run's id or a unique prefix of it (`gantry runs` lists them), or `last`
        #[arg(required_unless_present = "service")]
        run: Option<String>,
        /// A step name, `stage/name`, a stage name (all its steps), or a unique prefix of
        /// one of those (default: every step's log)
        step: Option<String>,
        /// Keep printing the step's log as it grows, until the step ends (with --service:
        /// the instances' logs, until Ctrl-C)
        #[arg(long, short = 'f')]
        follow: bool,
        /// Show the output of this service's instances instead of a run's steps
        #[arg(long, conflicts_with_all = ["run", "step"])]
        service: Option<String>,
        /// With --service: only this instance (its name or a unique prefix; `gantry ps`
        /// lists them)
        #[arg(long, requires = "service")]
        instance: Option<String>,
    },
    /// Print the outcomes report generated from the ledger; --rebuild rewrites the file(s)
    #[command(after_help = "Examples:\n  gantry report\n  gantry report --rebuild")]
    Report {
        #[arg(long)]
        rebuild: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Stages, steps, checkpoints and signers of one run
    #[command(after_help = "Examples:\n  gantry runs show 3\n  gantry --json runs show 3")]
    Show {
        /// The run's id (`gantry runs` lists them)
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Pipeline name, a key of `pipelines:` (default: the only pipeline)
    pub pipeline: Option<String>,
    /// Most stages running at once (default: the number of cores)
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Continue run ID from the first stage that did not complete
    #[arg(long, value_name = "ID", conflicts_with = "pipeline")]
    pub resume: Option<String>,
    /// With --resume: continue even though the pipeline's definition changed
    #[arg(long, requires = "resume")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The run waiting at the checkpoint (`gantry runs` lists them)
    pub run: String,
    /// The stage whose checkpoint to sign
    pub stage: String,
    /// Role whose key signs (must be the checkpoint's role)
    #[arg(long = "as", value_name = "ROLE")]
    pub role: String,
    /// What was checked and why it is fine (or, with --veto, the reason)
    #[arg(long)]
    pub summary: Option<String>,
    /// Veto instead of approving: the run stops with the summary as reason
    #[arg(long)]
    pub veto: bool,
    /// Tokens the signing agent used, counted against the run's budget
    #[arg(long, default_value_t = 0)]
    pub tokens: u64,
}

pub fn run(project: &Project, cmd: PipelineCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        PipelineCommand::Run(args) => run::run(project, &args, json),
        PipelineCommand::Sign(args) => sign::run(project, &args, json),
        PipelineCommand::Runs { command: None } => runs::list(project, json),
        PipelineCommand::Runs {
            command: Some(RunsCommand::Show { id }),
        } => runs::show(project, &id, json),
        PipelineCommand::Logs {
            service: Some(service),
            instance,
            follow,
            ..
        } => crate::cmd::instance_logs::run(project, &service, instance.as_deref(), follow, json),
        PipelineCommand::Logs {
            run, step, follow, ..
        } => logs::run(
            project,
            run.as_deref().unwrap_or("last"),
            step.as_deref(),
            follow,
            json,
        ),
        PipelineCommand::Report { rebuild } => report::run(project, rebuild, json),
    }
}

/// Signs run-level entries: the operator, else the system key.
fn operator(project: &Project, state: &State) -> anyhow::Result<Signer> {
    match project.signer_for(state, "operator") {
        Ok((signer, _)) => Ok(signer),
        Err(_) => project.system_signer(),
    }
}

/// The signer and ledger handle that record `pipeline.state.interrupted`, opened once for
/// every run found dead.
fn interruption_recorder(
    project: &Project,
    config: &Config,
    state: &State,
) -> anyhow::Result<(Signer, gantry_ledger::Ledger)> {
    let signer = match project.system_signer() {
        Ok(s) => s,
        Err(_) => operator(project, state)?,
    };
    Ok((signer, project.open_ledger(config)?))
}

/// State with runs whose process is gone marked `interrupted`, and that finding recorded
/// as `pipeline.state.interrupted` so later replays agree without looking at processes.
fn reconciled_state(project: &Project, config: &Config) -> anyhow::Result<State> {
    let mut state = project.state()?;
    let host = gantry_pipeline::host_name();
    let me = std::process::id();
    let dead = state.runs.mark_interrupted(|run| {
        // Another machine's run cannot be judged from here.
        // A pid whose start time differs from the recorded one was reused by another process.
        run.host != host || (run.pid != me && gantry_pipeline::run_alive(run.pid, run.pid_start))
    });
    if dead.is_empty() {
        return Ok(state);
    }
    // Reading must not depend on writing: on a read-only checkout (an auditor's copy) or
    // without keys, the finding is shown but cannot be recorded.
    let recorder = interruption_recorder(project, config, &state);
    for id in &dead {
        // Steps run in their own process groups, so they outlive a killed gantry.
        let killed = gantry_pipeline::kill_leftovers(
            &project.gantry_dir().join("runs").join(id).join("running"),
        );
        let reason = state.runs.runs.get(id).and_then(|r| r.reason.clone());
        let body = json!({"run": id, "reason": reason, "observed_by": me, "killed_process_groups": killed});
        let recorded = match &recorder {
            Ok((signer, ledger)) => ledger
                .append(signer, "pipeline.state.interrupted", body)
                .map(drop)
                .map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        if let Err(e) = recorded {
            eprintln!(
                "warning: run {id} is interrupted, but recording that failed ({e:#}); \
                 the next writable `gantry runs` records it"
            );
        }
    }
    Ok(state)
}
