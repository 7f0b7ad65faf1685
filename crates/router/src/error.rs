//! The router's error type.

use std::net::SocketAddr;

/// What can go wrong when the control plane drives the router.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The listen address could not be bound (in use, no permission, ...).
    #[error("cannot listen on {addr} for service {service:?}: {source}")]
    Bind {
        service: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// `serve` was called twice for one service without `stop` in between.
    #[error("service {service:?} is already served on {addr}")]
    AlreadyServing { service: String, addr: SocketAddr },
    /// `serve` was called outside a tokio runtime.
    #[error("the router must be started from inside a tokio runtime")]
    NoRuntime,
    /// The data-plane threads ([`crate::RouterConfig::workers`]) could not be started.
    #[error("cannot start the router's worker threads: {source}")]
    Workers {
        #[source]
        source: std::io::Error,
    },
    /// The listener's TLS certificate or key could not be used.
    #[error("cannot serve TLS for service {service:?}: {source}")]
    Tls {
        service: String,
        #[source]
        source: crate::TlsError,
    },
    /// The router has been shut down and accepts no new listeners.
    #[error("the router is shut down")]
    ShutDown,
}
