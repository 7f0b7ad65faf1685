//! Probe thresholds (Kubernetes semantics), restart backoff and crash-loop detection.

/// Consecutive-result tracking for one probe. Readiness starts failing (not ready until
/// `success_threshold` successes); liveness and startup start passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTracker {
    success_threshold: u32,
    failure_threshold: u32,
    ok_streak: u32,
    fail_streak: u32,
    passing: bool,
}

impl ProbeTracker {
    pub fn new(success_threshold: u32, failure_threshold: u32, initially_passing: bool) -> Self {
        ProbeTracker {
            success_threshold: success_threshold.max(1),
            failure_threshold: failure_threshold.max(1),
            ok_streak: 0,
            fail_streak: 0,
            passing: initially_passing,
        }
    }

    pub fn passing(&self) -> bool {
        self.passing
    }

    /// Records one probe result; returns the new state when it changed.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.ok_streak += 1;
            self.fail_streak = 0;
            if !self.passing && self.ok_streak >= self.success_threshold {
                self.passing = true;
                return Some(true);
            }
        } else {
            self.fail_streak += 1;
            self.ok_streak = 0;
            if self.passing && self.fail_streak >= self.failure_threshold {
                self.passing = false;
                return Some(false);
            }
        }
        None
    }

    /// Failures in a row so far (startup probes give up at the threshold).
    pub fn fail_streak(&self) -> u32 {
        self.fail_streak
    }
}

/// Restart delays: `base`, doubling per consecutive restart, capped at `max` (ms).
pub fn backoff_ms(base: u64, max: u64, consecutive: u32) -> u64 {
    let shift = consecutive.saturating_sub(1).min(20);
    base.saturating_mul(1u64 << shift).min(max)
}

/// Reports a crash loop: `limit` restarts within `within_ms`.
#[derive(Debug, Clone, Default)]
pub struct CrashLoop {
    restarts_ms: Vec<u64>,
}

impl CrashLoop {
    /// Records a restart at `now_ms`; true if that makes `limit` within `within_ms`.
    pub fn record(&mut self, now_ms: u64, limit: usize, within_ms: u64) -> bool {
        self.restarts_ms.push(now_ms);
        self.restarts_ms
            .retain(|t| now_ms.saturating_sub(*t) <= within_ms);
        self.restarts_ms.len() >= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_success_threshold_and_failure_threshold() {
        let mut p = ProbeTracker::new(2, 3, false);
        assert_eq!(p.observe(true), None);
        assert_eq!(p.observe(true), Some(true));
        assert_eq!(p.observe(false), None);
        assert_eq!(p.observe(true), None, "a success resets the failure streak");
        assert_eq!(p.observe(false), None);
        assert_eq!(p.observe(false), None);
        assert_eq!(p.observe(false), Some(false));
        assert!(!p.passing());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(250, 4000, 1), 250);
        assert_eq!(backoff_ms(250, 4000, 3), 1000);
        assert_eq!(backoff_ms(250, 4000, 60), 4000);
    }

    #[test]
    fn crash_loop_counts_recent_restarts_only() {
        let mut c = CrashLoop::default();
        assert!(!c.record(0, 3, 10_000));
        assert!(!c.record(20_000, 3, 10_000));
        assert!(!c.record(21_000, 3, 10_000));
        assert!(c.record(22_000, 3, 10_000));
    }
}
