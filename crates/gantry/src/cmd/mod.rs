//! One module per command; each is a thin layer over the domain crates.

mod agent;
pub mod alerts;
mod approval;
mod check;
mod completions;
pub mod decisions;
pub mod deploy;
mod history;
mod init;
mod instance_logs;
mod interrupt;
mod ledger;
pub mod mcp;
pub mod pipeline;
pub mod plan;
pub mod policy;
mod replay;
pub mod status;

use crate::cli::{Cli, Command};
use crate::project::Project;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Init(args) => init::run(cli.dir.as_deref(), &args, json),
        Command::Completions { shell } => completions::run(shell),
        command => {
            let project = Project::locate(cli.dir.as_deref())?;
            match command {
                Command::Init(_) | Command::Completions { .. } => unreachable!("handled above"),
                Command::Check => check::run(&project, json),
                Command::Agent(cmd) => agent::run(&project, cmd, json),
                Command::Ledger(cmd) => ledger::run(&project, cmd, json),
                Command::Replay => replay::run(&project, json),
                Command::Pipeline(cmd) => pipeline::run(&project, cmd, json),
                Command::Deploy(cmd) => deploy::run(&project, cmd, json),
                Command::Token(cmd) => deploy::tokens::run(&project, cmd, json),
                Command::Status(args) => status::run(&project, &args, json),
                Command::Policy(cmd) => policy::run(&project, cmd, json),
                Command::Plan(args) => plan::run(&project, &args),
                Command::Veto(args) => decisions::veto(&project, &args, json),
                Command::Approve(args) => decisions::approve(&project, &args, json),
                Command::Decisions(args) => decisions::list(&project, &args, json),
                Command::History { service } => history::run(&project, &service, json),
                Command::Alerts(cmd) => alerts::run(&project, cmd, json),
                Command::Mcp(args) => mcp::run(&project, &args),
            }
        }
    }
}
