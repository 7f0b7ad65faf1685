//! Grouping and de-duplication of notifications, as Alertmanager does it, as a pure state
//! machine: the caller passes the time in, so tests drive it with a made-up clock.
//!
//! - The first event of a group waits `group_wait`, so events that come together (a failed
//!   deployment and the rollback it triggers) go out as one message.
//! - A group whose content changed is sent again at most every `group_interval`.
//! - A condition (a status) counts as resolved only once it stayed resolved for
//!   `group_interval`, the quiet period: a flapping check sends one message, not one per
//!   probe, and one "resolved" when it settles.
//! - An unchanged firing group is repeated every `repeat_interval`.
//! - A channel gets only what is at or above its minimum severity, and a "resolved" only
//!   for what it was told was firing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gantry_config::NotifySeverity as Severity;

/// The three intervals (defaults as Alertmanager's: 30s, 5m, 4h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
        }
    }
}

/// Something that holds (a status, an incident) under a group key.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The group: `status`, `deploy web`, `pipeline release`, `alert api-down`.
    pub key: String,
    pub severity: Severity,
    pub title: String,
    pub text: String,
    /// Figures and facts, in order (`error rate` → `50.0%`).
    pub fields: Vec<(String, String)>,
    /// Sent once and forgotten: no repeat and no "resolved" (a vetoed checkpoint).
    pub once: bool,
}

/// What the grouper is told.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Fire(Alert),
    /// What `key` was about has ended. `hold`: only once it stayed ended for the quiet
    /// period (a probe-driven condition); otherwise at once (a recorded fact such as a
    /// successful deployment or `gantry start`).
    Resolve {
        key: String,
        text: String,
        hold: bool,
    },
}

impl Event {
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            Event::Fire(a) => &a.key,
            Event::Resolve { key, .. } => key,
        }
    }
}

/// Firing or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Firing,
    Resolved,
}

impl State {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

/// One message to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub state: State,
    /// The alert as it is (for a resolved one: as it was when it fired).
    pub alert: Alert,
    /// For a resolved one: what ended it.
    pub resolution: Option<String>,
    /// A reminder of an unchanged firing group.
    pub repeat: bool,
    /// Events folded into this message since the last one of its group.
    pub events: u32,
}

struct Group {
    current: Alert,
    events: u32,
    /// When the last firing message was due-checked, and what it said.
    sent: Option<(Instant, String)>,
    /// Whether this channel was told the group is firing.
    told: bool,
    /// When the next firing message may go.
    due: Option<Instant>,
    /// Resolved since, with what ended it and whether it must hold.
    ok_since: Option<(Instant, String, bool)>,
}

fn fingerprint(a: &Alert) -> String {
    format!("{}\u{1f}{}\u{1f}{}", a.severity.as_str(), a.title, a.text)
}

/// The grouping state of one channel.
pub struct Grouper {
    timing: Timing,
    min: Severity,
    groups: BTreeMap<String, Group>,
}

impl Grouper {
    #[must_use]
    pub fn new(timing: Timing, min: Severity) -> Grouper {
        Grouper {
            timing,
            min,
            groups: BTreeMap::new(),
        }
    }

    /// Takes one event that happened at `now`.
    pub fn take(&mut self, event: Event, now: Instant) {
        match event {
            Event::Fire(alert) => {
                let t = self.timing;
                let g = self
                    .groups
                    .entry(alert.key.clone())
                    .or_insert_with(|| Group {
                        current: alert.clone(),
                        events: 0,
                        sent: None,
                        told: false,
                        due: Some(now + t.group_wait),
                        ok_since: None,
                    });
                g.ok_since = None;
                g.events += 1;
                g.current = alert;
                if let Some((at, said)) = &g.sent
                    && *said != fingerprint(&g.current)
                    && g.due.is_none()
                {
                    g.due = Some((*at + t.group_interval).max(now));
                }
            }
            Event::Resolve { key, text, hold } => {
                if let Some(g) = self.groups.get_mut(&key) {
                    match &g.ok_since {
                        // Still resolved: the quiet period runs from the first.
                        Some(_) => {}
                        None => g.ok_since = Some((now, text, hold)),
                    }
                }
            }
        }
    }

    /// The messages due at `now`, in group order.
    pub fn due(&mut self, now: Instant) -> Vec<Notification> {
        let t = self.timing;
        let mut out = Vec::new();
        let mut done = Vec::new();
        for (key, g) in &mut self.groups {
            let fp = fingerprint(&g.current);
            if g.due.is_some_and(|d| d <= now) {
                g.due = None;
                let changed = g.sent.as_ref().is_none_or(|(_, said)| *said != fp);
                if changed {
                    g.sent = Some((now, fp.clone()));
                    if g.current.severity >= self.min {
                        g.told = true;
                        out.push(Notification {
                            state: State::Firing,
                            alert: g.current.clone(),
                            resolution: None,
                            repeat: false,
                            events: std::mem::take(&mut g.events),
                        });
                    }
                }
            } else if let Some((at, _)) = &mut g.sent
                && g.ok_since.is_none()
                && !g.current.once
                && g.current.severity >= self.min
                && now >= *at + t.repeat_interval
            {
                *at = now;
                out.push(Notification {
                    state: State::Firing,
                    alert: g.current.clone(),
                    resolution: None,
                    repeat: true,
                    events: std::mem::take(&mut g.events),
                });
            }
            if g.current.once && g.sent.is_some() {
                done.push(key.clone());
                continue;
            }
            if let Some((since, text, hold)) = &g.ok_since
                && g.sent.is_some()
                && now
                    >= *since
                        + if *hold {
                            t.group_interval
                        } else {
                            Duration::ZERO
                        }
            {
                if g.told {
                    out.push(Notification {
                        state: State::Resolved,
                        alert: g.current.clone(),
                        resolution: Some(text.clone()),
                        repeat: false,
                        events: 0,
                    });
                }
                done.push(key.clone());
            }
        }
        for key in done {
            self.groups.remove(&key);
        }
        out
    }

    /// When [`Grouper::due`] next has something to do, if ever.
    #[must_use]
    pub fn next_due(&self) -> Option<Instant> {
        let t = self.timing;
        self.groups
            .values()
            .filter_map(|g| {
                let repeat = g
                    .sent
                    .as_ref()
                    .filter(|_| g.ok_since.is_none() && !g.current.once)
                    .map(|(at, _)| *at + t.repeat_interval);
                let resolve =
                    g.ok_since
                        .as_ref()
                        .filter(|_| g.sent.is_some())
                        .map(|(since, _, hold)| {
                            *since
                                + if *hold {
                                    t.group_interval
                                } else {
                                    Duration::ZERO
                                }
                        });
                [g.due, repeat, resolve].into_iter().flatten().min()
            })
            .min()
    }

    /// Groups currently held (firing or waiting to resolve).
    #[must_use]
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            group_wait: Duration::from_secs(1),
            group_interval: Duration::from_secs(5),
            repeat_interval: Duration::from_secs(60),
        }
    }

    fn fire(key: &str, severity: Severity, text: &str) -> Event {
        Event::Fire(Alert {
            key: key.into(),
            severity,
            title: format!("{key} is bad"),
            text: text.into(),
            fields: Vec::new(),
            once: false,
        })
    }

    fn resolve(key: &str, hold: bool) -> Event {
        Event::Resolve {
            key: key.into(),
            text: "fine again".into(),
            hold,
        }
    }

    /// Runs the grouper over `events` (at offsets in ms), stepping the clock every 100 ms
    /// up to `until_ms`, and returns every message with when it went.
    fn run(g: &mut Grouper, events: &[(u64, Event)], until_ms: u64) -> Vec<(u64, Notification)> {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut next = 0;
        for ms in (0..=until_ms).step_by(100) {
            let now = t0 + Duration::from_millis(ms);
            while next < events.len() && events[next].0 <= ms {
                g.take(events[next].1.clone(), now);
                next += 1;
            }
            out.extend(g.due(now).into_iter().map(|n| (ms, n)));
        }
        out
    }

    #[test]
    fn a_flapping_condition_sends_one_message_and_one_resolved() {
        let mut g = Grouper::new(timing(), Severity::Info);
        // Down and up every 200 ms for 30 probes, then up for good.
        let events: Vec<(u64, Event)> = (0..30)
            .map(|i| {
                let at = i * 200;
                if i % 2 == 0 {
                    (at, fire("status", Severity::Warn, "target api: status 500"))
                } else {
                    (at, resolve("status", true))
                }
            })
            .collect();
        let sent = run(&mut g, &events, 20_000);
        let states: Vec<(u64, State)> = sent.iter().map(|(t, n)| (*t, n.state)).collect();
        // Firing after group_wait; resolved one quiet period after the last flap (5.8 s).
        assert_eq!(states, [(1000, State::Firing), (10_800, State::Resolved)]);
        assert!(g.is_empty());
    }

    #[test]
    fn events_within_group_wait_fold_into_one_message_with_the_latest_content() {
        let mut g = Grouper::new(timing(), Severity::Info);
        let sent = run(
            &mut g,
            &[
                (0, fire("deploy web", Severity::Error, "failed: analysis")),
                (
                    100,
                    fire("deploy web", Severity::Error, "rolled back to v1"),
                ),
            ],
            3000,
        );
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].1.alert.text, "rolled back to v1");
        assert_eq!(sent[0].1.events, 2);
    }

    #[test]
    fn a_change_waits_for_group_interval_and_an_unchanged_group_repeats() {
        let mut g = Grouper::new(timing(), Severity::Info);
        let sent = run(
            &mut g,
            &[
                (0, fire("status", Severity::Warn, "DEGRADED")),
                (2000, fire("status", Severity::Error, "CRITICAL")),
                // Same again: no message.
                (7000, fire("status", Severity::Error, "CRITICAL")),
            ],
            70_000,
        );
        let at: Vec<(u64, bool, Severity)> = sent
            .iter()
            .map(|(t, n)| (*t, n.repeat, n.alert.severity))
            .collect();
        assert_eq!(
            at,
            [
                (1000, false, Severity::Warn),
                (6000, false, Severity::Error),
                (66_000, true, Severity::Error)
            ]
        );
    }

    #[test]
    fn below_the_minimum_nothing_is_sent_nor_resolved_until_it_escalates() {
        let mut g = Grouper::new(timing(), Severity::Error);
        let sent = run(
            &mut g,
            &[
                (0, fire("status", Severity::Warn, "DEGRADED")),
                (2000, resolve("status", true)),
                (10_000, fire("status", Severity::Warn, "DEGRADED")),
                (12_000, fire("status", Severity::Error, "CRITICAL")),
                (20_000, resolve("status", false)),
            ],
            30_000,
        );
        let states: Vec<(u64, State)> = sent.iter().map(|(t, n)| (*t, n.state)).collect();
        // The warn group resolved unseen; the new one went out once it was an error.
        assert_eq!(states, [(16_000, State::Firing), (20_000, State::Resolved)]);
    }

    #[test]
    fn once_alerts_are_sent_once_and_a_fact_resolves_at_once() {
        let mut g = Grouper::new(timing(), Severity::Info);
        let veto = Event::Fire(Alert {
            once: true,
            ..match fire("checkpoint r/ci", Severity::Warn, "vetoed") {
                Event::Fire(a) => a,
                Event::Resolve { .. } => unreachable!(),
            }
        });
        let sent = run(
            &mut g,
            &[
                (0, veto),
                (0, fire("emergency", Severity::Error, "stop")),
                (300, resolve("emergency", false)),
            ],
            200_000,
        );
        let got: Vec<(u64, &str, State)> = sent
            .iter()
            .map(|(t, n)| (*t, n.alert.key.as_str(), n.state))
            .collect();
        // Stopped and started within group_wait: both said, at the wait's end.
        assert_eq!(
            got,
            [
                (1000, "checkpoint r/ci", State::Firing),
                (1000, "emergency", State::Firing),
                (1000, "emergency", State::Resolved)
            ]
        );
        assert!(g.is_empty() && g.next_due().is_none());
    }
}
