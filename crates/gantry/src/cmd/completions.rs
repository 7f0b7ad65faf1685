//! `gantry completions SHELL`: a completion script generated from the same definitions
//! clap parses with, so it cannot drift from the commands.

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gantry", &mut script);
    crate::output::print(&String::from_utf8_lossy(&script));
    Ok(())
}
