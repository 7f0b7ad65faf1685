//! `gantry alerts export`: `alerts:` as a Prometheus alerting-rules file.

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

use crate::output;
use crate::project::Project;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Write the alert rules as a Prometheus alerting-rules file (stdout, or --out FILE)
    #[command(
        after_help = "Examples:\n  gantry alerts export\n  gantry alerts export --out gantry-rules.yml && promtool check rules gantry-rules.yml"
    )]
    Export {
        /// Write to this file instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

pub fn run(project: &Project, cmd: AlertsCommand, json: bool) -> anyhow::Result<()> {
    let AlertsCommand::Export { out } = cmd;
    let config = project.config()?;
    let text = gantry_monitor::alerts::export::prometheus_rules(&config);
    match &out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if json {
                return output::json(&json!({"out": path, "rules": config.alerts.len()}));
            }
            println!(
                "wrote {} alert rule(s) to {}",
                config.alerts.len(),
                path.display()
            );
        }
        None if json => {
            return output::json(&json!({"rules": config.alerts.len(), "text": text}));
        }
        None => print!("{text}"),
    }
    Ok(())
}
