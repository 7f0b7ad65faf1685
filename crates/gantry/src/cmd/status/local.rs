//! The report without a control plane: from the ledger, and with `--check` from probes
//! taken now.

use std::collections::BTreeMap;

use gantry_config::{Config, Notifier};
use gantry_monitor::report::{self, Inputs};
use gantry_monitor::{Report, Sample, Schedule};

use crate::exit;
use crate::project::{Project, process_env};

/// Probes every target now and reports.
pub fn check(project: &Project) -> anyhow::Result<Report> {
    let config = project.config()?;
    let env = process_env();
    let targets = gantry_monitor::targets::targets(&config, &env).map_err(exit::usage)?;
    let http = gantry_monitor::probe::client()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let samples = rt.block_on(gantry_monitor::round::run(&http, &targets));
    build(
        project,
        &config,
        &env,
        &targets,
        &samples,
        "gantry status --check",
    )
}

/// What the ledger alone says (nothing probed).
pub fn offline(project: &Project) -> anyhow::Result<Report> {
    let config = project.config()?;
    let env = process_env();
    let targets = gantry_monitor::targets::targets(&config, &env).map_err(exit::usage)?;
    build(
        project,
        &config,
        &env,
        &targets,
        &BTreeMap::new(),
        "gantry status (no control plane running)",
    )
}

fn build(
    project: &Project,
    config: &Config,
    env: &BTreeMap<String, String>,
    targets: &[gantry_monitor::Target],
    samples: &BTreeMap<String, Sample>,
    trigger: &str,
) -> anyhow::Result<Report> {
    let entries = project.entries()?;
    let state = gantry_state::State::replay(&entries);
    let verified = match gantry_ledger::verify(&project.ledger_path()) {
        Ok(r) => match r.failure {
            None => Ok(true),
            Some(f) => Err(f.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    let rollbacks = report::rollbacks(&entries);
    let schedule = Schedule::of(config.monitor.as_ref()).map_err(exit::usage)?;
    let budgets = gantry_access::budgets::report(
        &config.access.budget_limits(),
        &gantry_access::budgets::tally(&entries),
        time::OffsetDateTime::now_utc(),
    );
    Ok(report::build(&Inputs {
        config,
        state: &state,
        targets,
        samples,
        live: None,
        rollbacks: &rollbacks,
        ledger_verified: verified,
        ledger_write_error: None,
        channel_failures: Vec::new(),
        alerts: Vec::new(),
        alert_rules: gantry_monitor::alerts::Evaluator::new(config).states(),
        deliveries: gantry_monitor::notify::channel::configured(config),
        now: chrono::Utc::now(),
        trigger: trigger.into(),
        git: gantry_monitor::git::describe(&project.root),
        run_url: gantry_monitor::git::run_url(env),
        schedule: schedule.describe(),
        channels: channels(config),
        labels: report::labels(config),
        budgets: &budgets,
    }))
}

/// The notification channels as the report names them (never the URL: it is a secret).
pub fn channels(config: &Config) -> Vec<String> {
    config
        .notify
        .iter()
        .map(|n| match &n.value {
            Notifier::Slack(s) => format!("slack (${})", s.webhook_env),
            Notifier::Discord(s) => format!("discord (${})", s.webhook_env),
            Notifier::Webhook(w) => match &w.url_env {
                Some(var) => format!("webhook (${var})"),
                None => "webhook".into(),
            },
        })
        .collect()
}
