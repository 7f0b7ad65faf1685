//! Per service/version request measurements: a sliding window for the control plane's
//! analysis and cumulative totals for Prometheus.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::window::{Counts, WindowRing, WindowStats, micros, new_histogram};

/// Seconds since the router started: the time axis of every window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    pub(crate) fn now_sec(&self) -> u64 {
        self.start.elapsed().as_secs()
    }
}

/// Everything measured for one version since the router started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionTotals {
    pub version: String,
    pub counts: Counts,
    /// Sum of all recorded latencies (for a Prometheus summary's `_sum`).
    pub latency_sum: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Upgraded connections (tunnels) open now.
    pub open_upgrades: u64,
    /// Responses that took at most each of [`LATENCY_BUCKETS`] (cumulative), for a
    /// Prometheus histogram; every response is in `counts.requests`'s latency count.
    pub latency_buckets: Vec<(Duration, u64)>,
    /// Responses whose latency was recorded.
    pub latency_count: u64,
}

/// Upper bounds of [`VersionTotals::latency_buckets`]: Prometheus' default buckets.
pub const LATENCY_BUCKETS: [Duration; 11] = [
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2500),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Everything measured for one service since the router started.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceTotals {
    pub service: String,
    /// Requests answered 503 because no ready backend with weight was left.
    pub no_backend: u64,
    /// Requests answered 503 because of the emergency stop.
    pub emergency_rejected: u64,
    /// Requests that failed on the client's side (body too slow: 408; aborted upload or
    /// malformed chunk: 400). Never part of any version's error rate.
    pub client_errors: u64,
    /// Client connections answered 503 and closed because the listener already had its
    /// `max_connections` open.
    pub over_capacity: u64,
    /// Requests answered 503 because no connection to their backend came free within
    /// the queue timeout.
    pub queue_timeouts: u64,
    pub versions: Vec<VersionTotals>,
}

struct Inner {
    ring: WindowRing,
    totals: Counts,
    latency_sum_us: u64,
    latency: Histogram<u64>,
}

/// Measurements of one version of one service.
pub(crate) struct VersionMetrics {
    inner: Mutex<Inner>,
    open_upgrades: AtomicU64,
}

/// Keeps an upgraded connection counted as open until dropped.
pub(crate) struct OpenUpgrade(std::sync::Arc<VersionMetrics>);

impl Drop for OpenUpgrade {
    fn drop(&mut self) {
        self.0.open_upgrades.fetch_sub(1, Ordering::AcqRel);
    }
}

impl VersionMetrics {
    pub(crate) fn new(window_secs: usize) -> Self {
        VersionMetrics {
            inner: Mutex::new(Inner {
                ring: WindowRing::new(window_secs),
                totals: Counts::default(),
                latency_sum_us: 0,
                latency: new_histogram(),
            }),
            open_upgrades: AtomicU64::new(0),
        }
    }

    /// Counts a connection upgraded at second `now`, open until the guard drops.
    pub(crate) fn record_upgrade(self: &std::sync::Arc<Self>, now: u64) -> OpenUpgrade {
        let mut m = self.lock();
        m.ring.record_upgrade(now);
        m.totals.upgrades += 1;
        drop(m);
        self.open_upgrades.fetch_add(1, Ordering::AcqRel);
        OpenUpgrade(std::sync::Arc::clone(self))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record_response(&self, now: u64, status: u16, latency: Duration) {
        let mut m = self.lock();
        m.ring.record_response(now, status, latency);
        m.totals.requests += 1;
        m.totals.status.add_status(status);
        let us = micros(latency);
        m.latency_sum_us = m.latency_sum_us.saturating_add(us);
        m.latency.saturating_record(us);
    }

    pub(crate) fn record_connect_error(&self, now: u64) {
        let mut m = self.lock();
        m.ring.record_connect_error(now);
        m.totals.connect_errors += 1;
    }

    pub(crate) fn record_upstream_error(&self, now: u64) {
        let mut m = self.lock();
        m.ring.record_upstream_error(now);
        m.totals.upstream_errors += 1;
    }

    /// A gRPC call of this version ended with one of the service's error codes.
    pub(crate) fn record_grpc_error(&self, now: u64) {
        let mut m = self.lock();
        m.ring.record_grpc_error(now);
        m.totals.grpc_errors += 1;
    }

    pub(crate) fn window(&self, now: u64, window: Duration) -> WindowStats {
        self.lock().ring.stats(now, window)
    }

    pub(crate) fn totals(&self, version: &str) -> VersionTotals {
        let m = self.lock();
        let q = |q: f64| Duration::from_micros(m.latency.value_at_quantile(q));
        VersionTotals {
            version: version.to_string(),
            counts: m.totals,
            latency_sum: Duration::from_micros(m.latency_sum_us),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: if m.latency.is_empty() {
                Duration::ZERO
            } else {
                Duration::from_micros(m.latency.max())
            },
            open_upgrades: self.open_upgrades.load(Ordering::Acquire),
            latency_buckets: LATENCY_BUCKETS
                .iter()
                .map(|b| (*b, m.latency.count_between(0, micros(*b))))
                .collect(),
            latency_count: m.latency.len(),
        }
    }
}

/// Service-level counters for requests no version answered.
#[derive(Default)]
pub(crate) struct ServiceCounters {
    pub(crate) no_backend: AtomicU64,
    pub(crate) emergency_rejected: AtomicU64,
    pub(crate) client_errors: AtomicU64,
    pub(crate) over_capacity: AtomicU64,
    pub(crate) queue_timeouts: AtomicU64,
}

impl ServiceCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_outlive_the_window() {
        let m = VersionMetrics::new(2);
        m.record_response(0, 200, Duration::from_millis(10));
        m.record_response(0, 500, Duration::from_millis(30));
        m.record_connect_error(0);
        assert_eq!(m.window(10, Duration::from_secs(2)).requests, 0);
        let t = m.totals("v1");
        assert_eq!(
            (
                t.counts.requests,
                t.counts.status.s5xx,
                t.counts.connect_errors
            ),
            (2, 1, 1)
        );
        assert_eq!(t.latency_sum, Duration::from_millis(40));
        assert!(t.max >= Duration::from_millis(30));
    }
}
