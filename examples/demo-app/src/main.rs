//! `demo-app`: a tiny HTTP service for gantry's demo and tests. `GET /` names its version,
//! `GET /health` reports readiness, `GET /events` streams server-sent events, `GET /ws`
//! echoes WebSocket messages, and flags simulate a bad release (see `--help`).
//!
//! Exit codes: 0 after a clean SIGTERM, 1 on `--crash-after` or a runtime failure, 2 on bad
//! arguments.

mod args;
mod load;
mod server;
mod stream;

use std::process::ExitCode;

fn main() -> ExitCode {
    let parsed = args::parse(std::env::args().skip(1), |k| std::env::var(k).ok());
    let args = match parsed {
        Ok(args::Parsed::Run(args)) => args,
        Ok(args::Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("demo-app: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo-app: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-app: {e}");
            ExitCode::FAILURE
        }
    }
}
