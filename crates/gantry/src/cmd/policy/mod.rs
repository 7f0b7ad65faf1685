//! `gantry policy check`: the policy gate over gantry.yaml or a deployment plan; and the
//! gate `gantry check` runs after validating the config.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use gantry_config::{Config, Policy};
use gantry_policy::{Plan, Report};
use serde_json::json;

use crate::cmd::decisions;
use crate::exit;
use crate::output;
use crate::project::{CONFIG_FILE, Project};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the policy gate over gantry.yaml, or over a deployment plan (`--plan FILE`, `-`
    /// for stdin); one line per violation; exit 1 on any `danger`
    #[command(
        after_help = "Examples:\n  gantry policy check\n  gantry policy check --plan plan.json\n  gantry plan | gantry policy check --plan -"
    )]
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
            let mut services: Vec<&str> = report
                .dangers()
                .filter_map(|v| v.service.as_deref())
                .collect();
            services.dedup();
            let recorded: Vec<u64> = services
                .iter()
                .filter_map(|s| record(project, &report, &format!("service {s}"), Some(s)))
                .collect();
            finish(&report, CONFIG_FILE, json, |mut value| {
                value["decisions"] = json!(recorded);
                value
            })?;
            passed(&report, CONFIG_FILE, json);
            Ok(())
        }
        PolicyCommand::Check { plan: Some(path) } => {
            let (name, text) = read_plan(&path)?;
            let plan = Plan::from_json(&name, &text).map_err(exit::usage)?;
            // The project's policy applies when there is a project; a plan checked
            // elsewhere is judged by the default severities.
            let policy = if project.config_path().is_file() {
                project.config()?.policy
            } else {
                Policy::default()
            };
            let report = gantry_policy::check_plan(&plan, &name, &policy);
            let recorded = if report.vetoed() {
                record(
                    project,
                    &report,
                    &format!("plan {name}"),
                    plan.service.as_deref(),
                )
            } else {
                None
            };
            finish(&report, &format!("the plan {name}"), json, |mut value| {
                value["plan"] = json!(name);
                value["decisions"] = json!(recorded.into_iter().collect::<Vec<_>>());
                value
            })?;
            passed(&report, &name, json);
            Ok(())
        }
    }
}

/// The plan's text and the name it goes by in violations (`<stdin>` for `-`).
fn read_plan(path: &Path) -> anyhow::Result<(String, String)> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| exit::usage(format!("cannot read the plan from stdin: {e}")))?;
        return Ok(("<stdin>".to_string(), text));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| exit::usage(format!("cannot read the plan {}: {e}", path.display())))?;
    Ok((path.display().to_string(), text))
}

/// Records the gate's veto in the decision log when there is a ledger to record it in;
/// says on stderr what was recorded, or why not (the verdict stands either way).
fn record(project: &Project, report: &Report, subject: &str, service: Option<&str>) -> Option<u64> {
    if !project.ledger_path().exists() {
        eprintln!("note: the veto of {subject} is not recorded: no ledger here (`gantry init`)");
        return None;
    }
    match decisions::record_gate_veto(project, report, subject, service) {
        Ok(seq) => {
            eprintln!(
                "recorded: decision.veto of {subject} by {} (seq {seq})",
                decisions::GATE_ROLE
            );
            Some(seq)
        }
        Err(why) => {
            eprintln!("warning: the veto of {subject} could not be recorded: {why}");
            None
        }
    }
}

fn passed(report: &Report, what: &str, json: bool) {
    if !json {
        println!(
            "{what}: passes the policy gate ({} warning(s))",
            report.violations.len()
        );
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
