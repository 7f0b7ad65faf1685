//! gantry's data plane: a weighted HTTP/1.1 and HTTP/2 reverse proxy, one listener per
//! service (HTTP/1.1 and h2c on the same port; TLS with ALPN when configured).
//!
//! It keeps no control logic. The control plane hands it a [`ServiceRoute`] per service
//! (weighted versions, ready instances, emergency stop) with [`Router::update`]; the router
//! forwards by it, drains connections across updates, retries on another backend when a
//! connection cannot be made, and measures every request per service and version
//! ([`Router::window_stats`], [`Router::totals`]) for the control plane's analysis.
//!
//! Plain HTTP/1.1 requests take the router's own request path (`h1`); everything else
//! (HTTP/2, upgrades, streamed uploads, …) goes through hyper (`proxy`), with the same
//! rules and measurements. By default requests are served on dedicated worker threads,
//! one single-threaded runtime per CPU with its own keep-alive pools to the backends
//! (`workers`, `pool`, `h1::upstream`), so a request never changes thread;
//! `RouterConfig { workers: 0, .. }` serves on the caller's runtime.
//!
//! Selection ([`select`]) and the sliding window ([`window`]) are pure and unit-tested.

mod accept;
mod answers;
mod body;
mod client_body;
mod config;
mod conn;
mod error;
mod grpc;
mod h1;
mod h2;
mod h2_pool;
mod headers;
mod limits;
mod metrics;
mod pool;
mod proxy;
mod route;
mod router;
pub mod select;
mod service;
mod table;
mod tls;
mod upgrade;
pub mod window;
mod workers;

pub use config::{RouterConfig, ServiceConfig, UpstreamProtocol};
pub use error::RouterError;
pub use grpc::{CODE_NAMES as GRPC_CODE_NAMES, GrpcCodes};
pub use metrics::{LATENCY_BUCKETS, ServiceTotals, VersionTotals};
pub use route::{Backend, RoutingTable, ServiceRoute};
pub use router::{Router, ServiceHandle};
pub use tls::{TlsError, TlsFiles, load as load_tls};
pub use window::{Counts, StatusCounts, WindowStats};
