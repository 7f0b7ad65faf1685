//! Notifications inside `gantry serve`: the channels of `notify:` started beside the
//! monitor, fed every admitted ledger entry the monitor tails (so what `gantry run` or a
//! CLI call wrote in another process counts too), counted in `/metrics`, and their
//! failures handed to the status report.

use std::collections::BTreeMap;
use std::sync::Arc;

use gantry_ledger::Entry;
use gantry_monitor::metrics::Metrics;
use gantry_monitor::notify::{self, Notifier};

/// Checks that every channel resolves (its URL variable is set), before serve starts.
pub fn validate(
    config: &gantry_config::Config,
    env: &BTreeMap<String, String>,
) -> Result<(), notify::NotifyError> {
    notify::channels(config, env).map(|_| ())
}

/// Starts the channels; `None` when `notify:` has none. `metrics` counts the outcomes.
pub(crate) fn start(
    config: &gantry_config::Config,
    env: &BTreeMap<String, String>,
    metrics: Arc<Metrics>,
) -> Result<Option<Notifier>, notify::NotifyError> {
    let channels = notify::channels(config, env)?;
    if channels.is_empty() {
        return Ok(None);
    }
    let on_outcome: notify::deliver::OnOutcome =
        Arc::new(move |channel, outcome| metrics.notification(channel, outcome));
    Notifier::start(&config.project, channels, on_outcome).map(Some)
}

/// Hands the events among `entries` to every channel; `state` is the ledger's with them
/// applied.
pub(crate) fn feed(notifier: Option<&Notifier>, entries: &[Entry], state: &gantry_state::State) {
    let Some(n) = notifier else { return };
    for e in entries {
        if let Some(event) = notify::events::from_entry(e, state) {
            n.send(&event);
        }
    }
}
