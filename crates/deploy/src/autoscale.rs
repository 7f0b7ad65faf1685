//! How many instances a service with `scaling:` should run: the HorizontalPodAutoscaler's
//! rule over measured CPU, as a pure function of the samples it is given.
//!
//! `wanted = ceil(current × utilisation / target)`, left alone while the ratio is within
//! 10% of 1 (HPA's tolerance, so noise does not move it), clamped to `min..=max`. Up at
//! once; down only to the highest count wanted over the stabilisation window (HPA's
//! scale-down stabilisation), so that a lull between bursts does not remove instances the
//! next burst needs and the count does not flap.

use std::collections::VecDeque;

/// Ratios within this of 1 keep the current count (HPA's default tolerance).
pub const TOLERANCE: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct Autoscaler {
    min: u32,
    max: u32,
    /// Target utilisation as a fraction of the CPU limit (0.7 for 70%).
    target: f64,
    window_ms: u64,
    /// (time, count wanted then) within the window, oldest first.
    wanted: VecDeque<(u64, u32)>,
}

/// One decision and what it rests on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    /// The count to run now.
    pub to: u32,
    /// What this sample alone asks for (before stabilisation).
    pub raw: u32,
}

impl Autoscaler {
    #[must_use]
    pub fn new(min: u32, max: u32, target: f64, window_ms: u64) -> Self {
        let min = min.max(1);
        Autoscaler {
            min,
            max: max.max(min),
            target,
            window_ms,
            wanted: VecDeque::new(),
        }
    }

    /// The count for `current` instances averaging `utilisation` (a fraction of their CPU
    /// limit) at `now_ms`.
    pub fn recommend(&mut self, now_ms: u64, current: u32, utilisation: f64) -> Recommendation {
        let ratio = if self.target > 0.0 && utilisation.is_finite() {
            utilisation.max(0.0) / self.target
        } else {
            1.0
        };
        let raw = if current == 0 || (ratio - 1.0).abs() <= TOLERANCE {
            current
        } else {
            let n = (f64::from(current) * ratio).ceil();
            if n >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                n as u32
            }
        };
        let raw = raw.clamp(self.min, self.max);
        self.wanted.push_back((now_ms, raw));
        while self
            .wanted
            .front()
            .is_some_and(|(t, _)| now_ms.saturating_sub(*t) > self.window_ms)
        {
            self.wanted.pop_front();
        }
        let to = if raw >= current {
            raw
        } else {
            let highest = self.wanted.iter().map(|(_, n)| *n).max().unwrap_or(raw);
            highest.min(current).max(self.min)
        };
        Recommendation { to, raw }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_up_at_once_by_the_ratio() {
        let mut a = Autoscaler::new(1, 4, 0.5, 10_000);
        // One instance at 100% of its limit against a 50% target: two.
        assert_eq!(a.recommend(0, 1, 1.0).to, 2);
        // Two at 90%: ceil(2 × 1.8) = 4.
        assert_eq!(a.recommend(1_000, 2, 0.9).to, 4);
        // Never above max.
        assert_eq!(a.recommend(2_000, 4, 2.0).to, 4);
    }

    #[test]
    fn within_tolerance_nothing_moves() {
        let mut a = Autoscaler::new(1, 10, 0.5, 0);
        assert_eq!(a.recommend(0, 3, 0.53).to, 3);
        assert_eq!(a.recommend(1, 3, 0.47).to, 3);
        assert_eq!(a.recommend(2, 3, 0.6).to, 4);
    }

    #[test]
    fn scales_down_only_after_the_window() {
        let mut a = Autoscaler::new(1, 4, 0.5, 3_000);
        assert_eq!(a.recommend(0, 1, 2.0).to, 4);
        // Idle right after: held at 4 while the burst's count is in the window.
        assert_eq!(a.recommend(1_000, 4, 0.0).to, 4);
        assert_eq!(a.recommend(2_000, 4, 0.0).to, 4);
        assert_eq!(a.recommend(3_000, 4, 0.0).to, 4);
        // The burst's sample has left the window: down to min.
        let r = a.recommend(3_500, 4, 0.0);
        assert_eq!((r.to, r.raw), (1, 1));
    }

    #[test]
    fn a_lull_between_bursts_does_not_flap() {
        let mut a = Autoscaler::new(1, 4, 0.5, 5_000);
        let mut counts = Vec::new();
        let mut n = 1;
        for (t, u) in [
            (0, 1.0),
            (1_000, 0.1),
            (2_000, 1.0),
            (3_000, 0.05),
            (4_000, 0.5),
        ] {
            n = a.recommend(t, n, u).to;
            counts.push(n);
        }
        assert_eq!(counts, vec![2, 2, 4, 4, 4]);
    }

    #[test]
    fn brings_the_count_into_range() {
        let mut a = Autoscaler::new(2, 3, 0.5, 0);
        assert_eq!(a.recommend(0, 1, 0.5).to, 2);
        assert_eq!(a.recommend(1, 5, 0.5).to, 3);
        assert_eq!(a.recommend(2, 0, f64::NAN).to, 2);
    }
}
