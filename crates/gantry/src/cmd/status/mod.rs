//! `gantry status`: the status report (OPERATIONAL / DEGRADED / CRITICAL).
//!
//! With `--check` it probes every target now, without a control plane; with `--refresh` it
//! asks the running `gantry serve` for a check round; otherwise it shows the control
//! plane's current report, or, when none runs, what the ledger alone says. `--check` and
//! `--refresh` exit 0 for OPERATIONAL, 8 for DEGRADED and 9 for CRITICAL.

mod local;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use gantry_monitor::{Level, Report, render};

use crate::exit;
use crate::project::Project;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Probe every target now, without a control plane (exit 0 OPERATIONAL, 8 DEGRADED,
    /// 9 CRITICAL)
    #[arg(long, conflicts_with = "refresh")]
    pub check: bool,
    /// Ask the running control plane for a check round now (same exit codes as --check)
    #[arg(long)]
    pub refresh: bool,
    /// Report format (`--json` is `--format json`)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report to FILE instead of stdout (stdout then gets one status line)
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Json,
}

pub fn run(project: &Project, args: &StatusArgs, json: bool) -> anyhow::Result<()> {
    let format = args
        .format
        .unwrap_or(if json { Format::Json } else { Format::Md });
    let report = if args.check {
        local::check(project)?
    } else if args.refresh {
        from_server(project, true)?
    } else if project
        .gantry_dir()
        .join(crate::cmd::deploy::client::SERVE_FILE)
        .is_file()
    {
        match from_server(project, false) {
            Ok(report) => report,
            // A control plane that stopped or crashed leaves serve.json behind: what the
            // ledger says is still worth showing.
            Err(e)
                if e.downcast_ref::<exit::Exit>()
                    .is_some_and(|x| x.code == exit::UNAVAILABLE) =>
            {
                local::offline(project)?
            }
            Err(e) => return Err(e),
        }
    } else {
        local::offline(project)?
    };
    let text = match format {
        Format::Md => render::markdown(&report),
        Format::Json => {
            let mut t = serde_json::to_string_pretty(&report)?;
            t.push('\n');
            t
        }
    };
    match &args.out {
        Some(path) => {
            gantry_ledger::durable::write_atomic(path, text.as_bytes(), 0o644)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if format == Format::Json || json {
                crate::output::json(&serde_json::json!({
                    "status": report.status, "out": path, "reasons": report.reasons,
                }))?;
            } else {
                println!("status: {} (report in {})", report.status, path.display());
            }
        }
        None => print!("{text}"),
    }
    if args.check || args.refresh {
        return match report.status {
            Level::Operational => Ok(()),
            level => Err(exit::silent(code(level))),
        };
    }
    Ok(())
}

/// The exit code of `--check` / `--refresh` for a status.
pub fn code(level: Level) -> u8 {
    match level {
        Level::Operational => 0,
        Level::Degraded => exit::STATUS_DEGRADED,
        Level::Critical => exit::STATUS_CRITICAL,
    }
}

fn from_server(project: &Project, refresh: bool) -> anyhow::Result<Report> {
    let client = crate::cmd::deploy::client::Client::connect(project)?;
    let value = if refresh {
        client.post("/v1/status/refresh", serde_json::json!({}))?
    } else {
        client.get("/v1/status")?
    };
    serde_json::from_value(value).context("the control plane's status report is not valid")
}
