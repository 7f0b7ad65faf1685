//! `gantry policy check`: the policy gate over gantry.yaml or a deployment plan; and the
//! gate `gantry check` runs after validating the config.

use std::path::PathBuf;

use clap::Subcommand;
use gantry_config::Config;
use gantry_policy::Report;
use serde_json::json;

use crate::exit;
use crate::output;
use crate::project::{CONFIG_FILE, Project};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the policy gate over gantry.yaml, or over a deployment plan (`--plan FILE`, `-`
    /// for stdin); one line per violation; exit 1 on any `danger`
    Check {
        /// A plan in the shape `gantry plan` prints (schemas/plan.schema.json)
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
    },
}

pub fn run(project: &Project, command: PolicyCommand, json: bool) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Check { plan: None } => {
            let config = project.config()?;
            let report = gate_config(project, &config);
            finish(&report, CONFIG_FILE, json, |value| value)
        }
        PolicyCommand::Check { plan: Some(_) } => Err(exit::usage(
            "--plan is not supported yet: `gantry policy check` gates gantry.yaml",
        )),
    }
}

/// The gate over the project's config; locations name `gantry.yaml` as the user wrote it.
pub fn gate_config(project: &Project, config: &Config) -> Report {
    gantry_policy::check_config(config, CONFIG_FILE, Some(&project.root))
}

/// Prints the report (lines, or JSON with `extend` adding the caller's fields) and turns
/// a veto into exit 1.
pub fn finish(
    report: &Report,
    what: &str,
    json: bool,
    extend: impl FnOnce(serde_json::Value) -> serde_json::Value,
) -> anyhow::Result<()> {
    let dangers = report.dangers().count();
    if json {
        output::json(&extend(json!({
            "ok": !report.vetoed(),
            "vetoed": report.vetoed(),
            "violations": report.violations,
        })))?;
        return if report.vetoed() {
            Err(exit::silent(exit::FAILED))
        } else {
            Ok(())
        };
    }
    print!("{report}");
    if report.vetoed() {
        return Err(exit::failed(format!(
            "policy gate: {what} is vetoed by {dangers} danger violation(s) above; add what each line names, or change the rule's severity in `policy:`"
        )));
    }
    Ok(())
}
