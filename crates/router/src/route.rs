//! The routing table the control plane hands the router: per service, its stable listen
//! address and its weighted, ready backends.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// One instance of one version of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// Release version this instance runs, e.g. `v2`.
    pub version: String,
    /// Instance id, unique within the service (used in logs and metrics only).
    pub instance: String,
    /// Where the instance listens.
    pub addr: SocketAddr,
    /// The share of traffic for this backend's *version* (percent, or any relative weight).
    /// All instances of a version should carry the same value; if they differ, the largest
    /// counts. A version with weight 0 gets no traffic.
    pub weight: u32,
    /// Whether the instance passes its readiness check; only ready instances get traffic.
    pub ready: bool,
}

/// How one service is routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRoute {
    /// The service's stable address. Informational for [`crate::Router::update`]: binding
    /// happens in [`crate::Router::serve`].
    pub listen: SocketAddr,
    pub backends: Vec<Backend>,
    /// When set, every request is answered `503` with `Retry-After: 5`.
    #[serde(default)]
    pub emergency_stop: bool,
}

/// The whole table: service name → route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingTable {
    pub services: BTreeMap<String, ServiceRoute>,
}
