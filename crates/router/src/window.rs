//! Sliding-window request measurements as a pure ring of one-second buckets. The caller
//! passes the current second, so the logic is testable without a clock.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency histograms cover 1 µs ..= 60 s with 2 significant digits; slower samples are
/// recorded as 60 s.
const LATENCY_LOW_US: u64 = 1;
pub(crate) const LATENCY_HIGH_US: u64 = 60_000_000;
const LATENCY_SIGFIG: u8 = 2;

pub(crate) fn new_histogram<T: hdrhistogram::Counter>() -> Histogram<T> {
    Histogram::new_with_bounds(LATENCY_LOW_US, LATENCY_HIGH_US, LATENCY_SIGFIG)
        .expect("constant histogram bounds are valid")
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .max(LATENCY_LOW_US)
}

/// Responses by status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub s1xx: u64,
    pub s2xx: u64,
    pub s3xx: u64,
    pub s4xx: u64,
    pub s5xx: u64,
}

impl StatusCounts {
    pub(crate) fn add_status(&mut self, status: u16) {
        match status / 100 {
            1 => self.s1xx += 1,
            2 => self.s2xx += 1,
            3 => self.s3xx += 1,
            4 => self.s4xx += 1,
            _ => self.s5xx += 1,
        }
    }

    fn merge(&mut self, o: &StatusCounts) {
        self.s1xx += o.s1xx;
        self.s2xx += o.s2xx;
        self.s3xx += o.s3xx;
        self.s4xx += o.s4xx;
        self.s5xx += o.s5xx;
    }
}

/// Counters kept per bucket (and cumulatively).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Requests answered on behalf of the version (upstream responses, and the router's own
    /// 502/504 after the version's backend failed).
    pub requests: u64,
    pub status: StatusCounts,
    /// Connections to the version's backends that could not be established (the request
    /// was then retried elsewhere or answered 502).
    pub connect_errors: u64,
    /// Upstream failures after connecting: reset, closed early, or timed out.
    pub upstream_errors: u64,
    /// Connections upgraded (WebSocket and other `Upgrade` protocols): counted here, not
    /// as requests, since a tunnel's duration is no latency.
    pub upgrades: u64,
    /// gRPC calls that ended with a `grpc-status` among the service's error codes (over
    /// HTTP 200): failures of the version like a 5xx, counted in the error rate.
    pub grpc_errors: u64,
}

impl Counts {
    fn merge(&mut self, o: &Counts) {
        self.upgrades += o.upgrades;
        self.requests += o.requests;
        self.status.merge(&o.status);
        self.connect_errors += o.connect_errors;
        self.upstream_errors += o.upstream_errors;
        self.grpc_errors += o.grpc_errors;
    }
}

/// Measurements of one service version over a recent window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStats {
    /// The window actually covered (whole seconds, at most the ring's capacity).
    pub window: Duration,
    pub requests: u64,
    pub errors_5xx: u64,
    /// `(errors_5xx + grpc_errors) / requests`, 0 when there were no requests.
    pub error_rate: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub status: StatusCounts,
    pub connect_errors: u64,
    pub upstream_errors: u64,
    /// Connections upgraded to another protocol (see [`Counts::upgrades`]).
    pub upgrades: u64,
    /// gRPC calls that failed with one of the service's error codes ([`Counts::grpc_errors`]).
    pub grpc_errors: u64,
}

struct Bucket {
    second: Option<u64>,
    counts: Counts,
    latency: Option<Histogram<u32>>,
}

/// A ring of one-second buckets holding the last `capacity` seconds.
pub struct WindowRing {
    buckets: Vec<Bucket>,
}

impl WindowRing {
    /// A ring remembering `capacity_secs` seconds (at least 1).
    pub fn new(capacity_secs: usize) -> Self {
        let buckets = (0..capacity_secs.max(1))
            .map(|_| Bucket {
                second: None,
                counts: Counts::default(),
                latency: None,
            })
            .collect();
        WindowRing { buckets }
    }

    pub fn capacity_secs(&self) -> usize {
        self.buckets.len()
    }

    fn bucket(&mut self, now: u64) -> &mut Bucket {
        let len = self.buckets.len() as u64;
        let bucket = &mut self.buckets[(now % len) as usize];
        if bucket.second != Some(now) {
            bucket.second = Some(now);
            bucket.counts = Counts::default();
            if let Some(h) = bucket.latency.as_mut() {
                h.reset();
            }
        }
        bucket
    }

    /// Records a response with `status` that took `latency`, at second `now`.
    pub fn record_response(&mut self, now: u64, status: u16, latency: Duration) {
        let bucket = self.bucket(now);
        bucket.counts.requests += 1;
        bucket.counts.status.add_status(status);
        bucket
            .latency
            .get_or_insert_with(new_histogram)
            .saturating_record(micros(latency));
    }

    pub fn record_connect_error(&mut self, now: u64) {
        self.bucket(now).counts.connect_errors += 1;
    }

    pub fn record_upstream_error(&mut self, now: u64) {
        self.bucket(now).counts.upstream_errors += 1;
    }

    pub fn record_grpc_error(&mut self, now: u64) {
        self.bucket(now).counts.grpc_errors += 1;
    }

    pub fn record_upgrade(&mut self, now: u64) {
        self.bucket(now).counts.upgrades += 1;
    }

    /// Stats over the buckets of the last `window` (rounded up to whole seconds, clamped to
    /// `1..=capacity`), the current second `now` included.
    pub fn stats(&self, now: u64, window: Duration) -> WindowStats {
        let secs = (window.as_millis().div_ceil(1000) as u64).clamp(1, self.buckets.len() as u64);
        let oldest = now.saturating_sub(secs - 1);
        let mut counts = Counts::default();
        let mut latency = new_histogram::<u32>();
        for b in &self.buckets {
            if b.second.is_some_and(|s| s >= oldest && s <= now) {
                counts.merge(&b.counts);
                if let Some(h) = &b.latency {
                    latency.add(h).expect("histograms share bounds");
                }
            }
        }
        let q = |q: f64| Duration::from_micros(latency.value_at_quantile(q));
        let errors_5xx = counts.status.s5xx;
        let failed = errors_5xx + counts.grpc_errors;
        WindowStats {
            window: Duration::from_secs(secs),
            requests: counts.requests,
            errors_5xx,
            error_rate: if counts.requests == 0 {
                0.0
            } else {
                failed as f64 / counts.requests as f64
            },
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: if latency.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_micros(latency.max())
            },
            status: counts.status,
            connect_errors: counts.connect_errors,
            upstream_errors: counts.upstream_errors,
            upgrades: counts.upgrades,
            grpc_errors: counts.grpc_errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn empty_window_is_all_zero() {
        let s = WindowRing::new(10).stats(100, ms(5000));
        assert_eq!((s.requests, s.errors_5xx, s.error_rate), (0, 0, 0.0));
        assert_eq!(
            (s.p99, s.max, s.window),
            (Duration::ZERO, Duration::ZERO, ms(5000))
        );
    }

    #[test]
    fn counts_status_classes_and_error_rate() {
        let mut r = WindowRing::new(10);
        for i in 0..100 {
            let status = if i % 4 == 0 {
                503
            } else if i % 4 == 1 {
                404
            } else {
                200
            };
            r.record_response(7, status, ms(10));
        }
        r.record_connect_error(7);
        r.record_upstream_error(7);
        let s = r.stats(7, ms(1000));
        assert_eq!((s.requests, s.errors_5xx, s.error_rate), (100, 25, 0.25));
        assert_eq!((s.status.s2xx, s.status.s4xx, s.status.s5xx), (50, 25, 25));
        assert_eq!((s.connect_errors, s.upstream_errors), (1, 1));
    }

    #[test]
    fn latency_quantiles() {
        let mut r = WindowRing::new(10);
        for i in 1..=100 {
            r.record_response(3, 200, ms(i));
        }
        let s = r.stats(3, ms(1000));
        let near = |d: Duration, want: u64| {
            let got = d.as_secs_f64() * 1000.0;
            assert!(
                (got - want as f64).abs() <= want as f64 * 0.01 + 0.01,
                "{got}ms vs {want}ms"
            );
        };
        near(s.p50, 50);
        near(s.p90, 90);
        near(s.p99, 99);
        near(s.max, 100);
    }

    #[test]
    fn window_covers_only_recent_seconds() {
        let mut r = WindowRing::new(10);
        r.record_response(1, 500, ms(900));
        r.record_response(5, 200, ms(5));
        r.record_response(6, 200, ms(5));
        assert_eq!(r.stats(6, ms(2000)).requests, 2);
        assert_eq!(
            r.stats(6, ms(1500)).requests,
            2,
            "rounded up to whole seconds"
        );
        assert_eq!(r.stats(6, ms(1000)).requests, 1);
        let all = r.stats(6, ms(6000));
        assert_eq!((all.requests, all.errors_5xx), (3, 1));
        assert_eq!(all.max, Duration::from_micros(hdr_equivalent(900_000)));
        // A later second no longer sees second 1 once it is out of the window.
        assert_eq!(r.stats(9, ms(5000)).requests, 2);
        assert_eq!(r.stats(12, ms(5000)).requests, 0);
    }

    fn hdr_equivalent(us: u64) -> u64 {
        let mut h = new_histogram::<u32>();
        h.record(us).unwrap();
        h.max()
    }

    #[test]
    fn old_buckets_are_reused_and_window_clamped_to_capacity() {
        let mut r = WindowRing::new(3);
        r.record_response(0, 200, ms(1));
        r.record_response(3, 500, ms(1)); // same slot as second 0: replaces it
        let s = r.stats(3, ms(60_000));
        assert_eq!(s.window, ms(3000));
        assert_eq!((s.requests, s.errors_5xx), (1, 1));
    }

    #[test]
    fn slow_samples_saturate_instead_of_failing() {
        let mut r = WindowRing::new(2);
        r.record_response(0, 504, Duration::from_secs(3600));
        assert!(r.stats(0, ms(1000)).max >= Duration::from_secs(59));
    }
}
