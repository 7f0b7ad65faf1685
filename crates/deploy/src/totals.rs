//! Lifetime request counters of one service, as a driver's data plane counts them: what
//! Prometheus scrapes as `_total` counters and latency histograms. Windows for analysis
//! are [`crate::Measurement`]; these only ever grow (until the data plane restarts).

use std::time::Duration;

/// Everything counted for one service since its data plane started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestTotals {
    /// Requests answered 503 because no ready backend with weight was left.
    pub no_backend: u64,
    /// Requests answered 503 because of the emergency stop.
    pub emergency_rejected: u64,
    /// Requests that failed on the client's side (never a version's error).
    pub client_errors: u64,
    /// Connections refused because the listener had its `max_connections` open.
    pub over_capacity: u64,
    /// Requests answered 503 after waiting the queue timeout for a backend connection.
    pub queue_timeouts: u64,
    pub versions: Vec<VersionRequestTotals>,
}

/// Everything counted for one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionRequestTotals {
    pub version: String,
    /// Answers by status class: 1xx, 2xx, 3xx, 4xx, 5xx.
    pub by_class: [u64; 5],
    pub connect_errors: u64,
    pub upstream_errors: u64,
    /// Connections upgraded (WebSocket and the like), and those open now.
    pub upgrades: u64,
    pub open_upgrades: u64,
    /// Latency: sum, count, and cumulative counts at most each upper bound.
    pub latency_sum: Duration,
    pub latency_count: u64,
    pub latency_buckets: Vec<(Duration, u64)>,
}
