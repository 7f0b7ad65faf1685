//! Per-service data-plane settings (`router:` under a service): timeouts and limits of
//! gantry's router in front of the service's instances.

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::units::Duration;

/// Timeouts and limits of the router on a service's `listen` address. Defaults follow
/// nginx's (`client_header_timeout`, `client_body_timeout`, `proxy_read_timeout`, …), so
/// an application that works behind nginx works behind gantry.
///
/// ```yaml
/// router: { response_header_timeout: 120s, client_body_timeout: 10s, max_connections: 2048 }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterSettings {
    /// How long a client may take to send a request's headers (from its first byte).
    /// Past it the connection is closed. Default: 60s.
    #[serde(default = "sixty_seconds")]
    pub client_header_timeout: Spanned<Duration>,
    /// Longest pause between two reads of a request body (not the whole upload); past it
    /// the client gets 408. Default: 60s.
    #[serde(default = "sixty_seconds")]
    pub client_body_timeout: Spanned<Duration>,
    /// How long to try to connect to an instance (a dropped SYN is retried within it)
    /// before another instance is tried. Default: 60s.
    #[serde(default = "sixty_seconds")]
    pub connect_timeout: Spanned<Duration>,
    /// How long an instance may take to answer with its response headers once the request
    /// has been sent in full; past it the client gets 504. Default: 60s.
    #[serde(default = "sixty_seconds")]
    pub response_header_timeout: Spanned<Duration>,
    /// Longest pause between two reads of a response body from an instance; past it the
    /// response is cut off (an upstream error). Default: 60s.
    #[serde(default = "sixty_seconds")]
    pub upstream_body_timeout: Spanned<Duration>,
    /// How long an idle keep-alive client connection stays open. Default: 75s.
    #[serde(default = "seventy_five_seconds")]
    pub keepalive_timeout: Spanned<Duration>,
    /// Client connections open at once on the listen address (and on `preview_listen`);
    /// past it a new connection is answered 503 and closed, and counted. Default: 4096.
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<u32>,
    /// Connections in use at once to one instance; further requests wait for one in a
    /// queue instead of overflowing the application's accept backlog. Default: 256.
    #[serde(default = "default_backend_connections")]
    pub backend_connections: Spanned<u32>,
    /// How long a request may wait in that queue before it is answered 503. Default: 60s.
    #[serde(default = "sixty_seconds")]
    pub queue_timeout: Spanned<Duration>,
    /// How long requests and streams (SSE, downloads, WebSockets) already sent to an
    /// instance may go on after it is taken out of traffic by a switch, before it is
    /// stopped. Default: 30s.
    #[serde(default = "thirty_seconds")]
    pub drain_timeout: Spanned<Duration>,
    /// How long an instance being stopped gets between SIGTERM and SIGKILL (after the
    /// drain). 0 kills it at once. Default: 10s.
    #[serde(default = "ten_seconds")]
    pub stop_grace: Spanned<Duration>,
    /// Proxies in front of the router (CIDRs such as `10.0.0.0/8`, or single addresses)
    /// whose `X-Forwarded-For` / `Forwarded` is kept and appended to; from any other peer
    /// those headers are replaced. Default: none.
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Also send RFC 7239 `Forwarded` to the instances. Default: false.
    #[serde(default)]
    pub forwarded: bool,
    /// Header lines a request may have; past it the client gets 431. Default: 100.
    #[serde(default = "default_max_request_headers")]
    pub max_request_headers: Spanned<u32>,
    /// Bytes a request's line and headers may take (at least 8192); past it the client gets
    /// 431. Default: 32768 (nginx's `large_client_header_buffers 4 8k`).
    #[serde(default = "default_max_request_header_bytes")]
    pub max_request_header_bytes: Spanned<u32>,
    /// How the router reaches the instances: `http1` (default) or `h2c` (HTTP/2 without
    /// TLS, trailers passed through: what gRPC servers speak).
    #[serde(default)]
    pub upstream: Spanned<UpstreamProtocol>,
    /// gRPC statuses (names from the gRPC status table) that count as the version's
    /// errors in analysis. Default: the server-side failures UNKNOWN, DEADLINE_EXCEEDED,
    /// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
    #[serde(default = "default_grpc_error_codes")]
    pub grpc_error_codes: Spanned<Vec<Spanned<String>>>,
    /// TLS on the listen address: PEM certificate chain and key, relative to gantry.yaml
    /// (or absolute). HTTP/2 and HTTP/1.1 are offered by ALPN; the files are re-read
    /// when they change.
    #[serde(default)]
    pub tls: Option<Spanned<TlsFiles>>,
}

/// `tls: { cert, key }` under `router:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

/// The protocol the router speaks to a service's instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    #[default]
    Http1,
    H2c,
}

/// gRPC status names by code (<https://grpc.github.io/grpc/core/md_doc_statuscodes.html>).
pub const GRPC_STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

fn default_grpc_error_codes() -> Spanned<Vec<Spanned<String>>> {
    Spanned::new(
        [
            "UNKNOWN",
            "DEADLINE_EXCEEDED",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
        ]
        .into_iter()
        .map(|n| Spanned::new(n.to_string()))
        .collect(),
    )
}

impl RouterSettings {
    /// The codes of `grpc_error_codes` (names that are not gRPC statuses are refused by
    /// `check`, and skipped here).
    #[must_use]
    pub fn grpc_error_code_numbers(&self) -> Vec<u8> {
        self.grpc_error_codes
            .iter()
            .filter_map(|n| GRPC_STATUS_NAMES.iter().position(|k| *k == n.as_str()))
            .filter_map(|i| u8::try_from(i).ok())
            .collect()
    }
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            client_header_timeout: sixty_seconds(),
            client_body_timeout: sixty_seconds(),
            connect_timeout: sixty_seconds(),
            response_header_timeout: sixty_seconds(),
            upstream_body_timeout: sixty_seconds(),
            keepalive_timeout: seventy_five_seconds(),
            max_connections: default_max_connections(),
            backend_connections: default_backend_connections(),
            queue_timeout: sixty_seconds(),
            drain_timeout: thirty_seconds(),
            stop_grace: ten_seconds(),
            trusted_proxies: Vec::new(),
            forwarded: false,
            max_request_headers: default_max_request_headers(),
            max_request_header_bytes: default_max_request_header_bytes(),
            upstream: Spanned::default(),
            grpc_error_codes: default_grpc_error_codes(),
            tls: None,
        }
    }
}

/// A `trusted_proxies` entry: a CIDR, or one address (a /32 or /128).
pub fn parse_proxy(entry: &str) -> Result<ipnet::IpNet, String> {
    let entry = entry.trim();
    entry
        .parse::<ipnet::IpNet>()
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{entry}` is not a CIDR (e.g. 10.0.0.0/8) or an IP address"))
}

impl RouterSettings {
    /// The `trusted_proxies` that parse (checking reports the others).
    #[must_use]
    pub fn trusted_proxy_nets(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|e| parse_proxy(e).ok())
            .collect()
    }

    /// The timeouts that must be longer than 0, by their key, for checks that treat them
    /// alike (`stop_grace` may be 0).
    #[must_use]
    pub fn timeouts(&self) -> [(&'static str, &Spanned<Duration>); 8] {
        [
            ("client_header_timeout", &self.client_header_timeout),
            ("client_body_timeout", &self.client_body_timeout),
            ("connect_timeout", &self.connect_timeout),
            ("response_header_timeout", &self.response_header_timeout),
            ("upstream_body_timeout", &self.upstream_body_timeout),
            ("keepalive_timeout", &self.keepalive_timeout),
            ("queue_timeout", &self.queue_timeout),
            ("drain_timeout", &self.drain_timeout),
        ]
    }
}

fn ten_seconds() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(10))
}
fn thirty_seconds() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(30))
}
fn sixty_seconds() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(60))
}
fn seventy_five_seconds() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(75))
}
fn default_backend_connections() -> Spanned<u32> {
    Spanned::new(256)
}
fn default_max_request_headers() -> Spanned<u32> {
    Spanned::new(100)
}
fn default_max_request_header_bytes() -> Spanned<u32> {
    Spanned::new(32 * 1024)
}
fn default_max_connections() -> Spanned<u32> {
    Spanned::new(4096)
}
