//! Control-plane commands: serve, deploy, promote, pause, resume, abort, rollback, stop,
//! start, ps.

use clap::Subcommand;

use crate::project::Project;

#[derive(Debug, Subcommand)]
pub enum DeployCommand {
    /// Run the control plane (not available yet)
    #[command(hide = true)]
    Serve,
}

pub fn run(_project: &Project, _cmd: DeployCommand, _json: bool) -> anyhow::Result<()> {
    Err(crate::exit::usage("the control plane is not available yet"))
}
