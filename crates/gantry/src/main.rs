//! The `gantry` binary: parses arguments, dispatches to a command, maps errors to exit codes.

mod cli;
mod cmd;
mod exit;
mod output;
mod project;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => exit::report(&err),
    }
}
