//! Starting instances and waiting until they are ready, under the rollout's progress
//! deadline: Kubernetes' semantics (see [`gantry_deploy::progress`]) on tokio's clock — a
//! rollout fails only after going the deadline without an instance created or ready or an
//! old one scaled down, however long it takes in all.

use std::time::Duration;

use gantry_deploy::{Deadline, InstancePhase, InstanceStatus, Progress, ProgressClock};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::core::Core;
use crate::exec::Exec;

/// A rollout's progress clock, measured from when it was made.
pub(crate) struct Rollout {
    clock: ProgressClock,
    origin: Instant,
}

impl Rollout {
    pub(crate) fn new(deadline: Duration) -> Rollout {
        Rollout {
            clock: ProgressClock::new(u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX), 0),
            origin: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn observe(&mut self, event: Progress) {
        let now = self.now_ms();
        self.clock.observe(event, now);
    }

    fn check(&self) -> Deadline {
        self.clock.check(self.now_ms())
    }
}

/// What the rollout is told while it waits for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Go,
    /// Held by the operator: the deadline does not run.
    Paused,
    /// Stop waiting (abort, emergency stop).
    Cancelled,
}

/// Who decides whether a rollout may go on: a deployment's owner (safe points held while
/// the operator's pause lasts), or, for restore and `start`, a cancellation token (an
/// emergency stop cancels them).
pub(crate) enum Guard<'a> {
    Owner(&'a Exec),
    Token(&'a CancellationToken),
}

impl Guard<'_> {
    fn state(&self) -> Gate {
        match self {
            Guard::Owner(e) => {
                let r = e.requests();
                if r.abort || e.cancel.is_cancelled() {
                    Gate::Cancelled
                } else if r.pause {
                    Gate::Paused
                } else {
                    Gate::Go
                }
            }
            Guard::Token(t) if t.is_cancelled() => Gate::Cancelled,
            Guard::Token(_) => Gate::Go,
        }
    }

    /// Waits at a safe point; false: stop (aborted, or an emergency stop).
    async fn pass(&self) -> bool {
        match self {
            Guard::Owner(e) => e.gate().await.is_ok(),
            Guard::Token(t) => !t.is_cancelled(),
        }
    }
}

/// Why instances did not get ready, with the figures to record (deadline misses).
#[derive(Debug)]
pub(crate) struct NotReady {
    pub reason: String,
    pub figures: Option<Value>,
}

impl NotReady {
    fn plain(reason: impl ToString) -> NotReady {
        NotReady {
            reason: reason.to_string(),
            figures: None,
        }
    }
}

impl Core {
    /// Starts `count` instances of `version` and waits until they and `running` (instances
    /// already there, e.g. adopted after a restart) are all ready, the progress deadline
    /// passes, or `cancelled` says to stop waiting. Err: why they did not get ready.
    pub(crate) async fn start_and_wait_with(
        &self,
        service: &str,
        version: &str,
        count: u32,
        running: &[String],
        deadline: Duration,
        cancel: &CancellationToken,
    ) -> Result<(), String> {
        let mut rollout = Rollout::new(deadline);
        self.start_under(
            service,
            version,
            count,
            running,
            &mut rollout,
            &Guard::Token(cancel),
        )
        .await
        .map_err(|e| e.reason)
    }

    /// Starts `count` instances of `version` as part of `rollout` and waits until they
    /// (and `running`) are all ready; each creation and each instance becoming ready is
    /// progress. Fails when the rollout goes past its deadline without progress, or an
    /// instance crash-loops.
    pub(crate) async fn start_under(
        &self,
        service: &str,
        version: &str,
        count: u32,
        running: &[String],
        rollout: &mut Rollout,
        guard: &Guard<'_>,
    ) -> Result<(), NotReady> {
        let mut ids = running.to_vec();
        let mut held = false;
        for _ in 0..count {
            // A safe point before each new instance: held while paused, ended by a cancel.
            // The owner answers it only while no emergency stop is in force, and an
            // emergency stop cancels this job before it is recorded: no instance starts
            // after it, whoever asks (a rollback, a restore, a deployment).
            let paused = guard.state() == Gate::Paused;
            if paused {
                rollout.observe(Progress::Paused);
            }
            if !guard.pass().await {
                return Err(NotReady::plain("cancelled"));
            }
            if paused {
                rollout.observe(Progress::Resumed);
            }
            let spec = self.spec(service, version).map_err(NotReady::plain)?;
            ids.push(spec.instance.clone());
            self.driver.start(spec).await.map_err(NotReady::plain)?;
            rollout.observe(Progress::Created);
        }
        let mut ready_seen = 0;
        let result = loop {
            let ours: Vec<InstanceStatus> = self
                .driver
                .instances(service)
                .into_iter()
                .filter(|i| ids.contains(&i.instance))
                .collect();
            let ready = ours.iter().filter(|i| i.ready).count();
            // An instance becoming ready again after a lapse is progress too (Kubernetes
            // counts available replicas going up).
            for _ in ready_seen..ready {
                rollout.observe(Progress::Ready);
            }
            ready_seen = ready;
            if ready >= ids.len() {
                break Ok(());
            }
            if let Some(i) = ours.iter().find(|i| i.phase == InstancePhase::CrashLooping) {
                // Point at the instance's output (a missing command, a bad flag) without
                // copying it: instance output may hold secrets, and this reason is recorded.
                let see = i
                    .log
                    .as_ref()
                    .map(|log| format!("; its output is in {}", log.display()))
                    .unwrap_or_default();
                break Err(NotReady::plain(format!(
                    "instance {} of {version} is crash looping ({} restarts){see}",
                    i.instance, i.restarts
                )));
            }
            match guard.state() {
                Gate::Cancelled => break Err(NotReady::plain("cancelled")),
                Gate::Paused if !held => {
                    held = true;
                    rollout.observe(Progress::Paused);
                }
                Gate::Go if held => {
                    held = false;
                    rollout.observe(Progress::Resumed);
                }
                Gate::Paused | Gate::Go => {}
            }
            if let Deadline::Exceeded(stall) = rollout.check() {
                let last = stall.last_progress.map_or("none", |p| p.name());
                break Err(NotReady {
                    reason: format!(
                        "{ready} of {} instance(s) of {version} ready; no progress for {}ms, past the progress deadline ({}ms; last progress: {last}, {}ms into the rollout)",
                        ids.len(),
                        stall.stalled_ms,
                        stall.deadline_ms,
                        stall.last_progress_at_ms,
                    ),
                    figures: Some(json!({
                        "version": version,
                        "ready": ready,
                        "wanted": ids.len(),
                        "deadline_ms": stall.deadline_ms,
                        "stalled_ms": stall.stalled_ms,
                        "last_progress": stall.last_progress,
                        "last_progress_at_ms": stall.last_progress_at_ms,
                        "rollout_ms": stall.rollout_ms,
                    })),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if held {
            rollout.observe(Progress::Resumed);
        }
        result
    }
}
