//! Router settings.

use std::time::Duration;

use ipnet::IpNet;

/// Tuning knobs; [`RouterConfig::default`] suits a local driver on loopback.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterConfig {
    /// Timeouts and limits of a listener started with [`crate::Router::serve`] (each
    /// service may have its own with [`crate::Router::serve_with`]).
    pub service: ServiceConfig,
    /// Backends tried per request (the first plus retries), each a different address.
    pub max_attempts: usize,
    /// How much history [`crate::Router::window_stats`] can look back on.
    pub window_capacity: Duration,
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
    /// Header lines an upstream response may have (hyper's own default, 100, is below
    /// what real applications send; nginx counts none, only its 4–8 KiB buffer, which
    /// holds about 250 short lines). Past 100, hyper allocates and fills room for this
    /// many lines on every response: the cost grows with the figure (at 512 it was 3% of
    /// the router's CPU under load), so it stays near what nginx's buffer holds.
    pub max_response_headers: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            service: ServiceConfig::default(),
            max_attempts: 3,
            window_capacity: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(30),
            max_replay_body: 64 * 1024,
            max_buffered_response: 64 * 1024,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_response_headers: 256,
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

/// Timeouts and limits of one service's listener. The defaults are nginx's, so an
/// application that works behind nginx works behind the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Peers whose own `X-Forwarded-For` (and `Forwarded`) is kept and appended to; from
    /// any other peer it is replaced, so a client cannot claim another address.
    pub trusted_proxies: Vec<IpNet>,
    /// Also send RFC 7239 `Forwarded` (`for=…;proto=http;host="…"`).
    pub forwarded: bool,
    /// Header lines a request may have; past it, 431.
    pub max_request_headers: usize,
    /// Bytes a request's head (request line and headers) may take; past it, 431 (nginx:
    /// `large_client_header_buffers 4 8k`). At least 8 KiB.
    pub max_request_header_bytes: usize,
    /// How long a client may take to send a request's headers, from their first byte
    /// (nginx `client_header_timeout`). Past it the connection is closed.
    pub client_header_timeout: Duration,
    /// Longest pause between two reads of a request body, not the whole upload (nginx
    /// `client_body_timeout`). Past it the client gets 408 and the version is not blamed.
    pub client_body_timeout: Duration,
    /// How long a connection to a backend may take before another is tried
    /// (nginx `proxy_connect_timeout`).
    pub connect_timeout: Duration,
    /// How long a backend may take to answer with its response headers once the request
    /// has been sent in full (nginx `proxy_read_timeout` for the head); past it, 504.
    pub response_header_timeout: Duration,
    /// Longest pause between two reads of a streamed response body (nginx
    /// `proxy_read_timeout`); past it the response is cut off as an upstream error.
    pub upstream_body_timeout: Duration,
    /// How long an idle keep-alive client connection stays open (nginx `keepalive_timeout`).
    pub keepalive_timeout: Duration,
    /// Client connections open at once on the listener; past it a new connection is
    /// answered 503 and closed (counted in [`crate::ServiceTotals::over_capacity`]).
    pub max_connections: usize,
    /// Connections in use at once to one backend (all worker threads together); further
    /// requests wait for one in a queue.
    pub backend_connections: usize,
    /// How long a request may wait in that queue before it is answered 503.
    pub queue_timeout: Duration,
    /// How long requests and streams in flight may go on when the listener is stopped
    /// ([`crate::Router::stop`], [`crate::Router::shutdown`]) before their connections are
    /// closed. The local driver gives a removed instance the same time before stopping it.
    pub drain_timeout: Duration,
    /// How requests reach the backends: HTTP/1.1 (default) or h2c.
    pub upstream: UpstreamProtocol,
    /// gRPC statuses that count as the version's errors ([`crate::GrpcCodes::default`]).
    pub grpc_error_codes: crate::GrpcCodes,
    /// TLS on the listener (HTTP/2 and HTTP/1.1 by ALPN); none: plain HTTP and h2c.
    pub tls: Option<crate::TlsFiles>,
}

/// The protocol spoken to a service's backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// Pooled keep-alive HTTP/1.1 connections.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge, one multiplexed connection per backend, trailers
    /// passed through both ways: what gRPC servers speak.
    H2c,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(60),
            response_header_timeout: Duration::from_secs(60),
            upstream_body_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_connections: 4096,
            backend_connections: 256,
            queue_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            forwarded: false,
            max_request_headers: 100,
            max_request_header_bytes: 32 * 1024,
            upstream: UpstreamProtocol::Http1,
            grpc_error_codes: crate::GrpcCodes::default(),
            tls: None,
        }
    }
}
