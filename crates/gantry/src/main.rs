//! The `gantry` binary: parses arguments, dispatches to a command, maps errors to exit codes.

mod cli;
mod cmd;
mod exit;
mod output;
mod project;

use clap::Parser;

// The data plane runs in this process and hyper allocates per request (header maps,
// bodies, channels, room for a response's header lines): with mimalloc's thread-local
// free lists a proxied request took 4% fewer instructions than with glibc's malloc
// (`bench/router-instructions.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
