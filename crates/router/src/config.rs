//! Router settings.

use std::time::Duration;

/// Tuning knobs; [`RouterConfig::default`] suits a local driver on loopback.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// How long to wait for an upstream's response headers before answering 504.
    pub upstream_timeout: Duration,
    /// How long to wait for a TCP connection to a backend before trying another.
    pub connect_timeout: Duration,
    /// Backends tried per request (the first plus retries), each a different address.
    pub max_attempts: usize,
    /// How much history [`crate::Router::window_stats`] can look back on.
    pub window_capacity: Duration,
    /// How long `stop`/`shutdown` wait for in-flight requests before closing connections.
    pub drain_timeout: Duration,
    /// Idle keep-alive connections to backends are closed after this long.
    pub pool_idle_timeout: Duration,
    /// Request bodies up to this size (with a known length) are buffered so the request can
    /// be retried on another backend; larger or chunked bodies are streamed, never retried.
    pub max_replay_body: usize,
    /// Responses up to this size (with a known length) are read whole before they are
    /// sent on: one write to the client, and a retry is still possible if the backend fails
    /// mid-body. Larger or open-ended responses (e.g. server-sent events) are streamed.
    pub max_buffered_response: usize,
    /// Dedicated data-plane threads (started by the first [`crate::Router::serve`]), each
    /// with a single-threaded runtime and its own upstream pool; client connections are
    /// spread over them, and a request never changes thread. Default: one per CPU, as
    /// nginx's `worker_processes auto`. 0 serves on the runtime that calls `serve`
    /// instead: simpler, but with cross-thread hand-offs on every request (on a 2-CPU
    /// machine 0.56–0.78× nginx's throughput against 0.77–1.07× with workers; see
    /// `bench/router-vs-nginx.sh`).
    pub workers: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(1),
            max_attempts: 3,
            window_capacity: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            pool_idle_timeout: Duration::from_secs(30),
            max_replay_body: 64 * 1024,
            max_buffered_response: 64 * 1024,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl RouterConfig {
    pub(crate) fn window_secs(&self) -> usize {
        usize::try_from(self.window_capacity.as_secs())
            .unwrap_or(usize::MAX)
            .max(1)
    }
}
