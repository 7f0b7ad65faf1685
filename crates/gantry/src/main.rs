//! The `gantry` binary: parses arguments, dispatches to a command, maps errors to exit codes.

mod cli;
mod cmd;
mod exit;
mod output;
mod project;

use clap::Parser;

fn main() -> std::process::ExitCode {
    output::quiet_on_closed_stdout();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // Before parsing succeeds there is no `cli.json`: look for the flag itself, so a
        // script's usage error is JSON too.
        Err(err) => return exit::clap(err, cli::json_requested(std::env::args_os())),
    };
    let json = cli.json;
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => exit::report(err, json),
    }
}
