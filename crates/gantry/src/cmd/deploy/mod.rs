//! Control-plane commands: serve, deploy, promote, pause, resume, abort, rollback, stop,
//! start, ps. `serve` runs the control plane; the others talk to it over its HTTP API
//! (address in `.gantry/serve.json`, token in `GANTRY_TOKEN` or `.gantry/admin.token`).
//! One `serve` per project: it holds `.gantry/serve.lock` while it runs.

pub(crate) mod client;
mod control;
mod guard;
mod ps;
mod rollback;
pub(crate) mod rollout;
mod serve;
pub mod token;
pub mod tokens;
pub mod watch;

use clap::{Args, Subcommand, ValueEnum};

use crate::project::Project;

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Run the control plane: supervisor, router, probes, analysis, HTTP API (foreground)
    #[command(
        after_help = "Examples:\n  gantry serve --detach\n  gantry serve --stop\n  gantry serve --listen 127.0.0.1:7070"
    )]
    Serve(ServeArgs),
    /// Deploy VERSION of SERVICE (also: update one component)
    #[command(
        after_help = "Examples:\n  gantry deploy web --version v2 --wait\n  gantry deploy web --version v2 --strategy blue-green\n  \
gantry --json deploy web --version v2 --wait"
    )]
    Deploy(DeployArgs),
    /// End the current pause of SERVICE's deployment and go on to the next step (analysis
    /// still applies); --full skips every remaining step
    #[command(after_help = "Examples:\n  gantry promote web\n  gantry promote web --full")]
    Promote {
        /// A service from `services:` with a deployment waiting in a pause
        service: String,
        /// Skip all remaining steps: all traffic to the new version now
        #[arg(long)]
        full: bool,
    },
    /// Pause SERVICE's running deployment (analysis goes on)
    #[command(
        after_help = "Examples:\n  gantry pause web\n  gantry pause web && gantry resume web"
    )]
    Pause {
        /// A service from `services:` with a running deployment
        service: String,
    },
    /// Resume a paused deployment
    #[command(after_help = "Examples:\n  gantry resume web\n  gantry --json resume web")]
    Resume {
        /// A service whose deployment an operator paused
        service: String,
    },
    /// Abort SERVICE's running deployment: traffic back to the stable version
    #[command(after_help = "Examples:\n  gantry abort web\n  gantry --json abort web")]
    Abort {
        /// A service from `services:` with a running deployment
        service: String,
    },
    /// Return SERVICE to its previous version (or --to VERSION)
    #[command(
        after_help = "Examples:\n  gantry rollback web --dry-run\n  gantry rollback web --to v1\n  gantry rollback web --to v2 --force   # v2 was rolled back before\n  gantry rollback web --no-wait"
    )]
    Rollback(RollbackArgs),
    /// Emergency stop: every service answers 503, all instances stop (state CRITICAL)
    #[command(
        after_help = "Examples:\n  gantry stop --emergency\n  gantry stop --emergency && gantry start"
    )]
    Stop(StopArgs),
    /// End an emergency stop: start every service's stable version again
    #[command(after_help = "Examples:\n  gantry start\n  gantry --json start")]
    Start,
    /// Have the running control plane read gantry.yaml again (as SIGHUP does): validated
    /// first, the old config kept on any error; new services open at once, changed ones
    /// apply from their next deployment
    #[command(
        after_help = "Examples:\n  gantry reload\n  gantry check && gantry reload\n  kill -HUP \"$(cat .gantry/serve.pid)\"   # the same, by signal"
    )]
    Reload,
    /// Services, instances, versions, weights and health
    #[command(
        after_help = "Examples:\n  gantry ps\n  gantry ps --env staging\n  gantry --json ps\n  gantry ps --watch\n  gantry --json ps --watch   # one ledger event per line"
    )]
    Ps(PsArgs),
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Only this environment's targets (a key of `environments:`); default: every one
    #[arg(long, value_name = "E")]
    pub env: Option<String>,
    /// Keep watching: on a terminal the view is redrawn in place; elsewhere (or with
    /// --json) one event per line, until Ctrl-C
    #[arg(long, short = 'w')]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API (loopback; port 0 picks a free one). The CLI finds it in
    /// .gantry/serve.json
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Run in the background; writes .gantry/serve.pid, logs to .gantry/serve.log
    #[arg(long)]
    pub detach: bool,
    /// Stop the running control plane gracefully: instances drain and stop, then it exits
    /// (recorded as control.stopped)
    #[arg(long, conflicts_with = "detach")]
    pub stop: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    Rolling,
    // One spelling, as in gantry.yaml; the old `blue_green` still works.
    #[value(name = "blue-green", alias = "blue_green")]
    BlueGreen,
    Canary,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// A service from `services:`
    pub service: String,
    /// Release to deploy (a key of the service's `releases:`)
    #[arg(long)]
    pub version: String,
    /// Override the service's strategy for this deploy
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Environment to deploy to (a key of `environments:`)
    #[arg(long, value_name = "E")]
    pub env: Option<String>,
    /// Deploy although the environment's policy vetoes it, for REASON (recorded; needs a
    /// role holding `override_policy`)
    #[arg(long, value_name = "REASON")]
    pub override_policy: Option<String>,
    /// Wait until the deployment ends, showing its progress; exit 3 if it failed and was
    /// rolled back or was aborted
    #[arg(long, overrides_with = "no_wait")]
    pub wait: bool,
    /// Return once the deployment has started (the default for deploy)
    #[arg(long, overrides_with = "wait")]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// A service from `services:`
    pub service: String,
    /// Version to return to (default: the one before the current)
    #[arg(long)]
    pub to: Option<String>,
    /// Print the exact plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Wait until the rollback ends, showing its progress (the default for rollback)
    #[arg(long, overrides_with = "no_wait")]
    pub wait: bool,
    /// Return at once instead of waiting for the rollback to finish
    #[arg(long, overrides_with = "wait")]
    pub no_wait: bool,
    /// Roll back even to a version whose last deployment was rolled back or failed
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Refuse all traffic with 503, stop every instance, record a CRITICAL state
    #[arg(long)]
    pub emergency: bool,
}

pub fn run(project: &Project, cmd: DeployCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        DeployCommand::Serve(args) => serve::run(project, &args, json),
        DeployCommand::Deploy(args) => rollout::deploy(project, &args, json),
        DeployCommand::Promote { service, full } => rollout::promote(project, &service, full, json),
        DeployCommand::Pause { service } => rollout::operate(project, &service, "pause", json),
        DeployCommand::Resume { service } => rollout::operate(project, &service, "resume", json),
        DeployCommand::Abort { service } => rollout::operate(project, &service, "abort", json),
        DeployCommand::Rollback(args) => rollback::run(project, &args, json),
        DeployCommand::Stop(args) => control::stop(project, &args, json),
        DeployCommand::Start => control::start(project, json),
        DeployCommand::Reload => control::reload(project, json),
        DeployCommand::Ps(args) => ps::run(project, args.env.as_deref(), json, args.watch),
    }
}
