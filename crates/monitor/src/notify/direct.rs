//! Delivery from a process that is not the control plane: `gantry run` sends its own
//! pipeline failure and checkpoint vetoes when no `gantry serve` runs (serve tails the
//! ledger and sends them when it does, so only one of the two ever delivers).
//!
//! There is no later to group into, so nothing waits for `group_wait`; and the process is
//! about to exit, so everything, retries included, fits in one time budget: a receiver
//! that hangs costs the run at most [`BUDGET`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gantry_ledger::Entry;

use super::channel::Channel;
use super::deliver::{ATTEMPT_TIMEOUT, attempt, body, client};
use super::events::from_entry;
use super::group::{Event, Grouper, Timing};
use super::{NotifyError, State};

/// How long delivery may hold the process after its work ended.
pub const BUDGET: Duration = Duration::from_secs(5);

/// What one channel did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub channel: String,
    /// `firing` / `resolved` and the title of every message delivered.
    pub sent: Vec<String>,
    /// Why each message that was not delivered failed.
    pub failed: Vec<String>,
}

/// The events a run's own entries make (`new`: entries after `since_seq` that name `run`;
/// every entry when `None`),
/// and what the channels were already told (`told`: for a run that succeeds, the failure of
/// the same pipeline still open before it, so the success is sent as its "resolved"). Only admitted
/// entries count, as everywhere the ledger is read.
#[must_use]
pub fn run_events(
    entries: &[Entry],
    run: &str,
    since_seq: Option<u64>,
) -> (Vec<Event>, Vec<Event>) {
    let mut state = gantry_state::State::default();
    let admitted: Vec<&Entry> = entries.iter().filter(|e| state.apply(e)).collect();
    let new: Vec<Event> = admitted
        .iter()
        .filter(|e| since_seq.is_none_or(|s| e.seq > s))
        .filter(|e| e.body.get("run").and_then(|v| v.as_str()) == Some(run))
        .filter_map(|e| from_entry(e, &state))
        .collect();
    // Only what this run resolves needs a past: every failed run is its own message.
    let keys: BTreeSet<&str> = new
        .iter()
        .filter(|e| matches!(e, Event::Resolve { .. }))
        .map(Event::key)
        .collect();
    let mut open: BTreeMap<String, Event> = BTreeMap::new();
    for e in admitted
        .iter()
        .filter(|e| since_seq.is_some_and(|s| e.seq <= s) && e.kind.starts_with("pipeline.state."))
    {
        let Some(ev) = from_entry(e, &state) else {
            continue;
        };
        if !keys.contains(ev.key()) {
            continue;
        }
        match ev {
            Event::Fire(_) => {
                open.insert(ev.key().to_string(), ev);
            }
            Event::Resolve { .. } => {
                open.remove(ev.key());
            }
        }
    }
    (open.into_values().collect(), new)
}

/// Sends `events` to every channel now (each at or above its minimum severity; a
/// "resolved" only for what `told` says was firing), all channels at once, everything
/// within `budget`.
pub async fn deliver(
    project: &str,
    channels: Vec<Channel>,
    told: &[Event],
    events: &[Event],
    budget: Duration,
) -> Result<Vec<Outcome>, NotifyError> {
    let http = client()?;
    let deadline = Instant::now() + budget;
    let mut tasks = tokio::task::JoinSet::new();
    let names: Vec<String> = channels.iter().map(|c| c.name.clone()).collect();
    for channel in channels {
        let (http, project) = (http.clone(), project.to_string());
        let (told, events) = (told.to_vec(), events.to_vec());
        tasks.spawn(async move { one(&http, &project, channel, &told, &events, deadline).await });
    }
    let mut out = Vec::new();
    // The attempts are bounded by the deadline already; this bounds whatever else could
    // hang (a resolver, a TLS handshake the client does not time).
    let collect = async {
        while let Some(done) = tasks.join_next().await {
            if let Ok(o) = done {
                out.push(o);
            }
        }
    };
    let _ = tokio::time::timeout(budget + Duration::from_millis(500), collect).await;
    tasks.abort_all();
    for name in names {
        if !out.iter().any(|o| o.channel == name) {
            out.push(Outcome {
                channel: name,
                sent: Vec::new(),
                failed: vec![format!("not delivered within {}s", budget.as_secs())],
            });
        }
    }
    out.sort_by(|a, b| a.channel.cmp(&b.channel));
    Ok(out)
}

async fn one(
    http: &reqwest::Client,
    project: &str,
    channel: Channel,
    told: &[Event],
    events: &[Event],
    deadline: Instant,
) -> Outcome {
    let now = Instant::now();
    let mut grouper = Grouper::new(
        Timing {
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            repeat_interval: Duration::from_secs(365 * 86_400),
        },
        channel.min_severity,
    );
    for e in told {
        grouper.take(e.clone(), now);
    }
    // What was told before is not sent again; it only makes its "resolved" possible.
    let _ = grouper.due(now);
    for e in events {
        grouper.take(e.clone(), now);
    }
    let mut outcome = Outcome {
        channel: channel.name.clone(),
        sent: Vec::new(),
        failed: Vec::new(),
    };
    for n in grouper.due(now) {
        let body = body(&channel, project, &n);
        let what = format!(
            "{} {}",
            match n.state {
                State::Firing => "firing",
                State::Resolved => "resolved",
            },
            n.alert.title
        );
        let mut backoff = Duration::from_secs(1);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                outcome
                    .failed
                    .push(format!("{what}: out of time ({}s)", BUDGET.as_secs()));
                break;
            }
            match attempt(http, &channel, &body, left.min(ATTEMPT_TIMEOUT)).await {
                Ok(()) => {
                    outcome.sent.push(what);
                    break;
                }
                Err(f) => {
                    let wait = f.retry_after.unwrap_or(backoff);
                    if !f.retry || wait >= deadline.saturating_duration_since(Instant::now()) {
                        outcome.failed.push(format!("{what}: {}", f.why));
                        break;
                    }
                    tokio::time::sleep(wait).await;
                    backoff *= 2;
                }
            }
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn entry(seq: u64, kind: &str, body: Value) -> Entry {
        serde_json::from_value(json!({
            "seq": seq, "ts": "2026-12-02T03:00:00Z", "kind": kind,
            "actor": {"id": "Ops", "role": "operator", "key": "k"}, "body": body,
            "prev": "", "hash": "", "sig": ""
        }))
        .unwrap()
    }

    fn run(seq: u64, id: &str, failed: bool) -> Vec<Entry> {
        vec![
            entry(
                seq,
                "pipeline.state.started",
                json!({"run": id, "pipeline": "release"}),
            ),
            if failed {
                entry(
                    seq + 1,
                    "pipeline.state.failed",
                    json!({"run": id, "reason": "step test failed"}),
                )
            } else {
                entry(seq + 1, "pipeline.state.succeeded", json!({"run": id}))
            },
        ]
    }

    #[test]
    fn a_failure_is_new_and_only_a_success_looks_back_at_the_open_failure() {
        let mut ledger = run(1, "r1", true);
        let (told, new) = run_events(&ledger, "r1", Some(0));
        assert!(told.is_empty());
        assert!(
            matches!(&new[..], [Event::Fire(a)] if a.key == "pipeline release" && a.title == "pipeline release failed"),
            "{new:?}"
        );
        // A second failure is its own message; nothing from the past is needed for it.
        ledger.extend(run(3, "r2", true));
        let (told, new) = run_events(&ledger, "r2", Some(2));
        assert!(told.is_empty());
        assert_eq!(new.len(), 1);
        // A success after them resolves the failure still open.
        ledger.extend(run(5, "r3", false));
        let (told, new) = run_events(&ledger, "r3", Some(4));
        assert!(
            matches!(&told[..], [Event::Fire(a)] if a.key == "pipeline release"),
            "{told:?}"
        );
        assert!(matches!(&new[..], [Event::Resolve { key, .. }] if key == "pipeline release"));
        // A success after a success has nothing to resolve.
        ledger.extend(run(7, "r4", false));
        let (told, _) = run_events(&ledger, "r4", Some(6));
        assert!(told.is_empty());
    }
}
