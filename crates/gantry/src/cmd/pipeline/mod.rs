//! Pipeline commands: run, sign, runs, logs, report.

use clap::Subcommand;

use crate::project::Project;

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Run a pipeline from gantry.yaml (not available yet)
    #[command(hide = true)]
    Run,
}

pub fn run(_project: &Project, _cmd: PipelineCommand, _json: bool) -> anyhow::Result<()> {
    Err(crate::exit::usage("pipelines are not available yet"))
}
