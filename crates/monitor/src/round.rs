//! Check rounds: every target probed at once, each bounded by its own timeout.
//!
//! [`run`] probes once and waits for all (`gantry status --check`). Under `gantry serve`,
//! [`Rounds`] keeps probes in flight across rounds instead: starting a round never waits
//! for the previous one, so a target slower than the interval delays neither the schedule
//! nor any other target's probes; it just sits out the rounds that come due while its own
//! probe still runs.
//!
//! A scheduled round spreads its probes' starts over a slot each ([`Rounds::set_spread`]),
//! as Prometheus spreads scrapes over the interval: a thousand probes started in the same
//! instant queue behind each other on the cores (measured: p50 28 ms, p99 98 ms late with
//! 1 000 targets on two cores), while one start per slot keeps each target on its own
//! schedule. A target's slot is fixed (its place in the list), so its period stays exact.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::probe::{ProbeResult, probe};
use crate::report::Sample;
use crate::targets::Target;

/// Probes every target concurrently and returns the samples by [`Target::key`]. A slow
/// target delays only the round's end, never another target's probe.
pub async fn run(http: &reqwest::Client, targets: &[Target]) -> BTreeMap<String, Sample> {
    let mut set = tokio::task::JoinSet::new();
    for t in targets {
        let http = http.clone();
        let t = t.clone();
        set.spawn(async move {
            let at = Utc::now();
            let result = probe(&http, &t.check, t.timeout).await;
            (t.key(), Sample { result, at })
        });
    }
    let mut out = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        if let Ok((name, sample)) = done {
            out.insert(name, sample);
        }
    }
    out
}

/// A boxed probe future.
pub type ProbeFuture = Pin<Box<dyn Future<Output = ProbeResult> + Send>>;
/// How [`Rounds`] probes one target: [`Rounds::http`] uses [`probe`]; tests pass their own.
pub type ProbeFn = Arc<dyn Fn(Arc<Target>) -> ProbeFuture + Send + Sync>;

/// One probe's end, as [`Rounds::next`] hands it over.
#[derive(Debug, Clone)]
pub struct Probed {
    /// The round that started it.
    pub round: u64,
    /// Index into [`Rounds::targets`].
    pub target: usize,
    pub sample: Sample,
    /// For a scheduled round: how late the probe started against the round's due time.
    pub late: Option<Duration>,
}

/// What [`Rounds::next`] reports: the probes that ended since the last call, and the
/// rounds they completed (or rounds that had nothing to wait for).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub probed: Vec<Probed>,
    pub finished: Vec<u64>,
}

/// What a new round does about a target whose probe from an earlier round still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// Leave it out: a scheduled round keeps to its time, and the running probe is that
    /// target's sample for the period.
    Skip,
    /// Wait for the running probe's end: a round asked for (`--refresh`, an event)
    /// answers with a fresh sample of every target, never a second probe at once.
    Join,
}

/// Rounds of probes over a fixed target list, overlapping when a probe outlasts the
/// interval.
pub struct Rounds {
    targets: Arc<[Arc<Target>]>,
    probe: ProbeFn,
    /// Per target, while its probe runs: the rounds waiting for it.
    running: Vec<Option<Vec<u64>>>,
    /// Probes each open round still waits for.
    open: HashMap<u64, usize>,
    /// Rounds that had nothing to wait for, finished as soon as they started.
    empty: VecDeque<u64>,
    next_round: u64,
    /// How far after a scheduled round's due time its last target's slot lies.
    spread: Duration,
    tx: mpsc::UnboundedSender<Probed>,
    rx: mpsc::UnboundedReceiver<Probed>,
}

impl Rounds {
    /// Rounds that probe with `http` (the shared, keep-alive client of [`crate::probe::client`]).
    #[must_use]
    pub fn http(http: reqwest::Client, targets: Vec<Target>) -> Rounds {
        Rounds::new(
            targets,
            Arc::new(move |t: Arc<Target>| {
                let http = http.clone();
                Box::pin(async move { probe(&http, &t.check, t.timeout).await }) as ProbeFuture
            }),
        )
    }

    #[must_use]
    pub fn new(targets: Vec<Target>, probe: ProbeFn) -> Rounds {
        let (tx, rx) = mpsc::unbounded_channel();
        Rounds {
            running: vec![None; targets.len()],
            targets: targets.into_iter().map(Arc::new).collect(),
            probe,
            open: HashMap::new(),
            empty: VecDeque::new(),
            next_round: 0,
            spread: Duration::ZERO,
            tx,
            rx,
        }
    }

    #[must_use]
    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    /// Spreads the starts of a scheduled round's probes over `spread` after its due time:
    /// target `i` of `n` starts at `due + spread * i / n` and its lateness counts from
    /// there. Rounds asked for (`Busy::Join`, no due time) start every probe at once.
    pub fn set_spread(&mut self, spread: Duration) {
        self.spread = spread;
    }

    /// The spread for `targets` probes due every `interval`: a millisecond per target,
    /// at most half the interval, so the last slot still ends well before the next round.
    #[must_use]
    pub fn spread_for(targets: usize, interval: Duration) -> Duration {
        let per_target = Duration::from_millis(u64::try_from(targets).unwrap_or(u64::MAX));
        per_target.min(interval / 2)
    }

    /// Whether the target at `index` has a probe running.
    #[must_use]
    pub fn in_flight(&self, index: usize) -> bool {
        self.running.get(index).is_some_and(Option::is_some)
    }

    /// Starts a round now and returns its number: one probe per target that has none
    /// running; `busy` says what happens to the others. `due` is when a scheduled round
    /// was due, for the probes' lateness. Returns at once; the probes' ends come through
    /// [`Rounds::next`].
    pub fn start(&mut self, due: Option<Instant>, busy: Busy) -> u64 {
        let round = self.next_round;
        self.next_round += 1;
        let mut waits = 0;
        let count = u32::try_from(self.targets.len().max(1)).unwrap_or(u32::MAX);
        for (index, target) in self.targets.iter().enumerate() {
            if let Some(waiting) = &mut self.running[index] {
                if busy == Busy::Join {
                    waiting.push(round);
                    waits += 1;
                }
                continue;
            }
            self.running[index] = Some(vec![round]);
            waits += 1;
            let (tx, target, probe) =
                (self.tx.clone(), Arc::clone(target), Arc::clone(&self.probe));
            let slot = due.map(|d| {
                let place = u32::try_from(index).unwrap_or(u32::MAX);
                d + self.spread * place / count
            });
            tokio::spawn(async move {
                if let Some(slot) = slot {
                    tokio::time::sleep_until(slot).await;
                }
                let late = slot.map(|d| Instant::now().saturating_duration_since(d));
                let at = Utc::now();
                let result = probe(target).await;
                let _ = tx.send(Probed {
                    round,
                    target: index,
                    sample: Sample { result, at },
                    late,
                });
            });
        }
        if waits == 0 {
            self.empty.push_back(round);
        } else {
            self.open.insert(round, waits);
        }
        round
    }

    /// The probes that ended since the last call (at least one, waiting for it) and the
    /// rounds that completed. Pending while nothing runs; cancel-safe (a `select!` may
    /// drop it between calls and lose nothing).
    pub async fn next(&mut self) -> Progress {
        let mut progress = Progress::default();
        if let Some(round) = self.empty.pop_front() {
            progress.finished.push(round);
            return progress;
        }
        // `tx` lives in `self`, so the channel never closes.
        let Some(first) = self.rx.recv().await else {
            return std::future::pending().await;
        };
        // Everything already there in one go: a thousand probes ending together make one
        // wake-up of the caller, not a thousand.
        let mut next = Some(first);
        while let Some(probed) = next {
            for round in self.running[probed.target].take().unwrap_or_default() {
                if let Some(left) = self.open.get_mut(&round) {
                    *left -= 1;
                    if *left == 0 {
                        self.open.remove(&round);
                        progress.finished.push(round);
                    }
                }
            }
            progress.probed.push(probed);
            next = self.rx.try_recv().ok();
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::probe::Check;

    fn target(name: &str) -> Target {
        Target {
            name: name.into(),
            service: None,
            check: Check::Tcp {
                addr: format!("{name}:1"),
            },
            timeout: Duration::from_secs(10),
        }
    }

    /// A probe that takes 2.5 s for `slow` and 1 ms for every other target, on tokio's
    /// clock.
    fn fake() -> ProbeFn {
        Arc::new(|t: Arc<Target>| {
            Box::pin(async move {
                let took = if t.name == "slow" {
                    Duration::from_millis(2500)
                } else {
                    Duration::from_millis(1)
                };
                tokio::time::sleep(took).await;
                ProbeResult {
                    ok: true,
                    latency_ms: took.as_secs_f64() * 1e3,
                    reason: None,
                }
            }) as ProbeFuture
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_target_delays_neither_the_schedule_nor_the_others() {
        let mut names: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
        names.push("slow".into());
        let mut rounds = Rounds::new(names.iter().map(|n| target(n)).collect(), fake());
        let slow = rounds.targets().len() - 1;
        let every = Duration::from_secs(1);
        let first = Instant::now() + every;
        let mut due = first;
        let mut started = Vec::new();
        let mut finished = Vec::new();
        let mut probes: HashMap<usize, usize> = HashMap::new();
        let mut late = Vec::new();
        let end = first + every * 6;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(due), if due < end => {
                    started.push((rounds.start(Some(due), Busy::Skip), Instant::now() - first));
                    due += every;
                }
                p = rounds.next() => {
                    for p in p.probed {
                        *probes.entry(p.target).or_default() += 1;
                        late.push(p.late.unwrap());
                    }
                    for r in p.finished {
                        finished.push((r, Instant::now() - first));
                    }
                }
                () = tokio::time::sleep_until(end + every * 3), if due >= end => break,
            }
        }
        // Every round started on its due time although round 0 waited 2.5 s for `slow`.
        let at: Vec<_> = started.iter().map(|(_, at)| *at).collect();
        assert_eq!(at, (0..6).map(|i| every * i).collect::<Vec<_>>());
        // Lateness counts from the due time: none here, under the paused clock.
        assert_eq!(late.len(), 200 * 6 + 2, "{late:?}");
        assert!(late.iter().all(|l| l.is_zero()), "{late:?}");
        // Fast targets: probed every round. The slow one sat out the rounds due while its
        // probe ran (1, 2 after round 0; 4, 5 after round 3), never doubled up.
        assert_eq!(probes[&0], 6);
        assert_eq!(probes[&slow], 2);
        // Rounds without `slow` finished 1 ms after they started, not after it.
        let done: HashMap<u64, Duration> = finished.into_iter().collect();
        assert_eq!(done[&1], every + Duration::from_millis(1));
        assert_eq!(done[&0], Duration::from_millis(2500));
        assert_eq!(done.len(), 6);
        assert!(!rounds.in_flight(slow));
    }

    #[tokio::test(start_paused = true)]
    async fn a_scheduled_round_spreads_its_starts_and_counts_lateness_from_each_slot() {
        let names: Vec<String> = (0..200).map(|i| format!("t{i}")).collect();
        let mut rounds = Rounds::new(names.iter().map(|n| target(n)).collect(), fake());
        let every = Duration::from_secs(1);
        let spread = Rounds::spread_for(200, every);
        assert_eq!(spread, Duration::from_millis(200));
        assert_eq!(Rounds::spread_for(5_000, every), Duration::from_millis(500));
        rounds.set_spread(spread);
        let due = Instant::now() + every;
        tokio::time::sleep_until(due).await;
        let round = rounds.start(Some(due), Busy::Skip);
        let mut ends = HashMap::new();
        let mut finished = None;
        while finished.is_none() {
            let p = rounds.next().await;
            for p in p.probed {
                assert!(p.late.unwrap().is_zero(), "{p:?}");
                ends.insert(p.target, Instant::now() - due);
            }
            if p.finished.contains(&round) {
                finished = Some(Instant::now() - due);
            }
        }
        // Target i starts at its own slot, i ms after the due time, and takes 1 ms.
        assert_eq!(ends[&0], Duration::from_millis(1));
        assert_eq!(ends[&100], Duration::from_millis(101));
        assert_eq!(ends[&199], Duration::from_millis(200));
        assert_eq!(finished, Some(Duration::from_millis(200)));
        // A round asked for does not wait for slots.
        let asked = rounds.start(None, Busy::Join);
        let start = Instant::now();
        loop {
            let p = rounds.next().await;
            if p.finished.contains(&asked) {
                break;
            }
        }
        assert_eq!(Instant::now() - start, Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_asked_for_waits_for_running_probes_a_scheduled_one_skips_them() {
        let mut rounds = Rounds::new(vec![target("slow"), target("fast")], fake());
        let r0 = rounds.start(None, Busy::Skip);
        let p = rounds.next().await;
        assert_eq!(p.probed.iter().map(|p| p.target).collect::<Vec<_>>(), [1]);
        assert!(p.finished.is_empty());
        // `slow` still runs: a scheduled round probes `fast` only, a refresh waits for
        // `slow`'s running probe instead of starting a second one.
        let r1 = rounds.start(None, Busy::Skip);
        let r2 = rounds.start(None, Busy::Join);
        let mut ends = Vec::new();
        let mut slow_probes = 0;
        while ends.len() < 3 {
            let p = rounds.next().await;
            slow_probes += p.probed.iter().filter(|p| p.target == 0).count();
            ends.extend(p.finished.into_iter().map(|r| (r, Instant::now())));
        }
        let at: HashMap<u64, Instant> = ends.into_iter().collect();
        assert!(
            at[&r1] < at[&r0],
            "the scheduled round did not wait for slow"
        );
        assert_eq!(at[&r2], at[&r0], "the refresh ends with slow's probe");
        assert_eq!(slow_probes, 1);
        // A round with nothing to wait for ends at once.
        let mut none = Rounds::new(Vec::new(), fake());
        let r = none.start(None, Busy::Join);
        assert_eq!(none.next().await.finished, vec![r]);
    }
}
