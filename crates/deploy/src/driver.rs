//! The [`Driver`] trait: what the control plane needs from a place that runs instances and
//! routes traffic to them. The local driver runs child processes behind gantry's router; a
//! Kubernetes driver would map the same calls onto Deployments and HTTPRoute weights.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use gantry_config::Health;
use serde::{Deserialize, Serialize};

/// Everything a driver needs to start one instance of one version.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub service: String,
    pub version: String,
    /// Unique id, also exported to the process as `GANTRY_INSTANCE` so that a restarted
    /// control plane can recognise its orphans.
    pub instance: String,
    /// Shell command line; `{port}` is replaced by the instance's port (also in `$PORT`).
    pub command: String,
    pub env: BTreeMap<String, String>,
    pub health: Health,
    /// Directory for the instance's captured stdout/stderr.
    pub log_dir: PathBuf,
}

/// Where an instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstancePhase {
    /// Process started, not ready yet.
    Starting,
    /// Passing readiness: gets traffic.
    Ready,
    /// Was ready, now failing readiness: no traffic.
    Unready,
    /// Waiting out a restart backoff.
    Restarting,
    /// Restarting too often; still retried with backoff, and reported.
    CrashLooping,
    /// Draining and stopping.
    Stopping,
    Stopped,
}

/// What a driver reports about one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub service: String,
    pub version: String,
    pub instance: String,
    pub phase: InstancePhase,
    pub ready: bool,
    pub addr: Option<SocketAddr>,
    pub pid: Option<u32>,
    /// Process group id (the local driver kills whole groups).
    pub pgid: Option<i32>,
    pub restarts: u32,
    /// Failed readiness/liveness probes since the instance was created (a metric).
    pub probe_failures: u64,
    pub log: Option<PathBuf>,
}

/// Transitions a driver reports; the control plane records each as `instance.<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Started,
    Ready,
    Unready,
    Restarted,
    Crashlooping,
    Stopped,
}

impl EventKind {
    /// The ledger entry kind.
    pub fn ledger_kind(self) -> &'static str {
        match self {
            EventKind::Started => "instance.started",
            EventKind::Ready => "instance.ready",
            EventKind::Unready => "instance.unready",
            EventKind::Restarted => "instance.restarted",
            EventKind::Crashlooping => "instance.crashlooping",
            EventKind::Stopped => "instance.stopped",
        }
    }
}

/// One instance transition with its details (pid, pgid, port, reason, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceEvent {
    pub kind: EventKind,
    pub service: String,
    pub version: String,
    pub instance: String,
    pub detail: serde_json::Map<String, serde_json::Value>,
}

/// How a service's traffic is split: relative weight per version (0 or absent: none), an
/// optional version served on the preview address, and the emergency stop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub weights: BTreeMap<String, u32>,
    pub preview: Option<String>,
    pub emergency_stop: bool,
}

/// Request measurements of one version over a window (from the data plane).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub requests: u64,
    pub errors_5xx: u64,
    pub error_rate: f64,
    pub p99_ms: f64,
    pub window_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot serve {service} on {addr}: {message}")]
    Listen {
        service: String,
        addr: SocketAddr,
        message: String,
    },
    #[error("cannot start instance {instance} of {service}: {message}")]
    Start {
        service: String,
        instance: String,
        message: String,
    },
    #[error("no instance {instance} of service {service}")]
    UnknownInstance { service: String, instance: String },
    #[error("{0}")]
    Other(String),
}

/// A place that runs instances and routes traffic to them.
pub trait Driver: Send + Sync + 'static {
    /// Starts serving `service` on its stable address; returns the bound address.
    fn open(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError>;
    /// Starts serving the preview address of `service` (blue-green).
    fn open_preview(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError>;
    /// Starts one instance; returns once it is launched (readiness comes later, as events).
    fn start(
        &self,
        spec: InstanceSpec,
    ) -> impl Future<Output = Result<InstanceStatus, DriverError>> + Send;
    /// Takes the instance out of traffic, lets in-flight requests finish, stops it.
    fn stop(
        &self,
        service: &str,
        instance: &str,
    ) -> impl Future<Output = Result<(), DriverError>> + Send;
    /// Sets the traffic split of `service`; only ready instances ever get traffic.
    fn set_traffic(&self, service: &str, traffic: &Traffic);
    /// The instances of `service` and their health.
    fn instances(&self, service: &str) -> Vec<InstanceStatus>;
    /// Measurements of `version` of `service` over the last `window`.
    fn measure(&self, service: &str, version: &str, window: Duration) -> Measurement;
    /// Stops serving everything and every instance (graceful shutdown).
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}
