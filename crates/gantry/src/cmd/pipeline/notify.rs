//! `gantry run`'s own notifications: when no control plane holds `.gantry/serve.lock` as
//! the run ends, nobody else will tell the channels that it failed or that a checkpoint was
//! vetoed, so the run does, within [`direct::BUDGET`]. When `gantry serve` runs it tails
//! the ledger and sends them itself; the run then sends nothing, so nothing goes twice.

use gantry_config::Config;
use gantry_monitor::notify::{self, direct};
use gantry_server::{ServeLock, ServerError};

use crate::project::Project;

/// The sequence number of the ledger's last entry before the run (what is after it is the
/// run's).
pub fn mark(project: &Project) -> Option<u64> {
    project.entries().ok()?.last().map(|e| e.seq)
}

/// Delivers what run `run` recorded after `since`, unless a control plane does.
pub fn after_run(
    project: &Project,
    config: &Config,
    run: &str,
    since: Option<u64>,
    runtime: &tokio::runtime::Runtime,
    json: bool,
) {
    if config.notify.is_empty() {
        return;
    }
    match ServeLock::check(&project.gantry_dir()) {
        // Serve tails the ledger from its `control.started` on; one still starting (no API
        // address in the lock yet) may have read this run's end as history, so the run
        // sends it itself.
        Err(ServerError::AlreadyServing { holder, .. }) if holder.api.is_some() => return,
        Err(ServerError::AlreadyServing { .. }) => {}
        Err(e) => eprintln!(
            "warning: cannot tell whether `gantry serve` runs ({e}); notifying from this run"
        ),
        Ok(()) => {}
    }
    let Ok(entries) = project.entries() else {
        eprintln!("warning: cannot read the ledger; no notification sent for run {run}");
        return;
    };
    let (told, events) = direct::run_events(&entries, run, since);
    if events.is_empty() {
        return;
    }
    let env = std::env::vars().collect();
    let mut channels = Vec::new();
    for c in notify::channel::each(config, &env) {
        match c {
            Ok(c) => channels.push(c),
            Err(e) => eprintln!("warning: {e}; nothing sent there"),
        }
    }
    let outcomes = match runtime.block_on(direct::deliver(
        &config.project,
        channels,
        &told,
        &events,
        direct::BUDGET,
    )) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("warning: {e}; no notification sent");
            return;
        }
    };
    for o in outcomes {
        for why in &o.failed {
            eprintln!(
                "warning: notification channel '{}' not delivered: {why}",
                o.channel
            );
        }
        if !json && !o.sent.is_empty() {
            eprintln!("notified {}: {}", o.channel, o.sent.join("; "));
        }
    }
}
