//! The progress deadline of a whole rollout, with Kubernetes' `progressDeadlineSeconds`
//! semantics: a rollout fails when it has made *no progress* for the deadline — not when
//! the rollout as a whole, or one batch of it, takes longer. Progress is a new instance
//! created or becoming ready, or an old one scaled down; each resets the clock. A paused
//! rollout (an analysis hold, a wait for `gantry promote`, an operator's pause) is not
//! measured, and resuming counts as progress, as Kubernetes resets its condition on resume.
//!
//! Pure: times are milliseconds since the rollout started, passed in by the caller.

use serde::{Deserialize, Serialize};

/// Something that happened to a rollout, as far as its progress deadline is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// A new instance was created.
    Created,
    /// A new instance became ready.
    Ready,
    /// An old instance was scaled down.
    ScaledDown,
    /// The rollout holds (analysis pause, wait for promote, operator pause): no deadline.
    Paused,
    /// The hold ended.
    Resumed,
}

impl Progress {
    pub fn name(self) -> &'static str {
        match self {
            Progress::Created => "instance created",
            Progress::Ready => "instance ready",
            Progress::ScaledDown => "old instance scaled down",
            Progress::Paused => "paused",
            Progress::Resumed => "resumed",
        }
    }
}

/// Why a rollout is over its deadline: the figures recorded with the failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stall {
    pub deadline_ms: u64,
    /// How long since the last progress (at least `deadline_ms`).
    pub stalled_ms: u64,
    /// When the last progress was, since the rollout started.
    pub last_progress_at_ms: u64,
    /// What it was (`None`: nothing since the rollout started).
    pub last_progress: Option<Progress>,
    /// How long the rollout has run.
    pub rollout_ms: u64,
}

/// Where a rollout stands against its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deadline {
    /// Still in time: this long left unless progress comes first.
    Running {
        remaining_ms: u64,
    },
    /// Paused: not measured.
    Paused,
    Exceeded(Stall),
}

/// The clock itself: feed it events as they happen, ask it at any time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressClock {
    deadline_ms: u64,
    last_at_ms: u64,
    last: Option<Progress>,
    /// Nested holds (an operator pause inside an analysis pause) each end separately.
    holds: u32,
}

impl ProgressClock {
    /// A rollout that starts at `at_ms` (the start counts as progress).
    pub fn new(deadline_ms: u64, at_ms: u64) -> ProgressClock {
        ProgressClock {
            deadline_ms,
            last_at_ms: at_ms,
            last: None,
            holds: 0,
        }
    }

    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// Records `event` at `at_ms`. Times that go backwards are taken as `at_ms` = the last
    /// progress, so a caller's clock skew never makes a deadline pass early.
    pub fn observe(&mut self, event: Progress, at_ms: u64) {
        match event {
            Progress::Paused => self.holds += 1,
            Progress::Resumed => {
                if self.holds == 0 {
                    return;
                }
                self.holds -= 1;
                if self.holds > 0 {
                    return;
                }
            }
            Progress::Created | Progress::Ready | Progress::ScaledDown => {}
        }
        if event != Progress::Paused {
            self.last = Some(event);
        }
        self.last_at_ms = self.last_at_ms.max(at_ms);
    }

    /// Where the rollout stands at `now_ms`.
    pub fn check(&self, now_ms: u64) -> Deadline {
        if self.holds > 0 {
            return Deadline::Paused;
        }
        let stalled = now_ms.saturating_sub(self.last_at_ms);
        if stalled < self.deadline_ms {
            return Deadline::Running {
                remaining_ms: self.deadline_ms - stalled,
            };
        }
        Deadline::Exceeded(Stall {
            deadline_ms: self.deadline_ms,
            stalled_ms: stalled,
            last_progress_at_ms: self.last_at_ms,
            last_progress: self.last,
            rollout_ms: now_ms,
        })
    }
}

/// The deadline verdict at `now_ms` for a rollout started at 0 with these events (in any
/// order of arrival; each with its time since the start).
pub fn deadline_at(deadline_ms: u64, events: &[(u64, Progress)], now_ms: u64) -> Deadline {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|(at, _)| *at);
    let mut clock = ProgressClock::new(deadline_ms, 0);
    for (at, e) in sorted.into_iter().filter(|(at, _)| *at <= now_ms) {
        clock.observe(e, at);
    }
    clock.check(now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Progress::*;

    fn exceeded(d: Deadline) -> Stall {
        match d {
            Deadline::Exceeded(s) => s,
            other => panic!("expected exceeded, got {other:?}"),
        }
    }

    #[test]
    fn a_rollout_longer_than_the_deadline_passes_while_it_progresses() {
        // 3 instances one at a time, each ready 4s after it is created, deadline 5s: the
        // rollout takes 12s+, yet never goes 5s without progress.
        let mut events = Vec::new();
        for batch in 0..3u64 {
            let t = batch * 4_500;
            events.extend([(t, Created), (t + 4_000, Ready), (t + 4_200, ScaledDown)]);
        }
        for now in (0..=13_400).step_by(100) {
            assert!(
                !matches!(deadline_at(5_000, &events, now), Deadline::Exceeded(_)),
                "at {now}ms"
            );
        }
        // A deadline for the whole rollout would have failed it at 5s.
        assert_eq!(
            deadline_at(5_000, &events, 13_400),
            Deadline::Running {
                remaining_ms: 4_800
            }
        );
    }

    #[test]
    fn never_ready_fails_at_the_deadline_from_the_last_progress() {
        // Two batches went well; the third's instance never becomes ready.
        let events = [
            (0, Created),
            (1_000, Ready),
            (1_100, ScaledDown),
            (1_200, Created),
            (2_200, Ready),
            (2_300, ScaledDown),
            (2_400, Created),
        ];
        assert!(matches!(
            deadline_at(3_000, &events, 5_399),
            Deadline::Running { remaining_ms: 1 }
        ));
        let stall = exceeded(deadline_at(3_000, &events, 5_400));
        assert_eq!(
            stall,
            Stall {
                deadline_ms: 3_000,
                stalled_ms: 3_000,
                last_progress_at_ms: 2_400,
                last_progress: Some(Created),
                rollout_ms: 5_400,
            }
        );
    }

    #[test]
    fn each_ready_instance_of_a_batch_restarts_the_clock() {
        // One batch of three, ready at 4s, 8s and 12s: a per-batch deadline of 5s would fail
        // it at 5s; Kubernetes' semantics do not.
        let events = [
            (0, Created),
            (0, Created),
            (0, Created),
            (4_000, Ready),
            (8_000, Ready),
            (12_000, Ready),
        ];
        assert!(matches!(
            deadline_at(5_000, &events, 12_000),
            Deadline::Running { .. }
        ));
        assert_eq!(
            exceeded(deadline_at(5_000, &events, 17_000)).stalled_ms,
            5_000
        );
    }

    #[test]
    fn nothing_at_all_fails_from_the_start() {
        let stall = exceeded(deadline_at(1_000, &[], 1_500));
        assert_eq!((stall.last_progress, stall.stalled_ms), (None, 1_500));
    }

    #[test]
    fn pauses_are_not_measured_and_resuming_is_progress() {
        let events = [(0, Created), (500, Paused), (60_000, Resumed)];
        assert_eq!(deadline_at(1_000, &events, 59_999), Deadline::Paused);
        assert_eq!(
            deadline_at(1_000, &events, 60_400),
            Deadline::Running { remaining_ms: 600 }
        );
        let stall = exceeded(deadline_at(1_000, &events, 61_000));
        assert_eq!(stall.last_progress, Some(Resumed));
    }

    #[test]
    fn nested_holds_end_with_the_last_and_stray_resumes_are_ignored() {
        let mut c = ProgressClock::new(1_000, 0);
        c.observe(Resumed, 10);
        assert_eq!(c.check(999), Deadline::Running { remaining_ms: 1 });
        c.observe(Paused, 100);
        c.observe(Paused, 200);
        c.observe(Resumed, 5_000);
        assert_eq!(c.check(9_000), Deadline::Paused);
        c.observe(Resumed, 9_000);
        assert_eq!(c.check(9_500), Deadline::Running { remaining_ms: 500 });
    }

    #[test]
    fn time_going_backwards_never_shortens_the_deadline() {
        let mut c = ProgressClock::new(1_000, 0);
        c.observe(Ready, 2_000);
        c.observe(Created, 1_500);
        assert_eq!(c.check(2_500), Deadline::Running { remaining_ms: 500 });
    }
}
