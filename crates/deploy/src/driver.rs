//! The [`Driver`] trait: what the control plane needs from a place that runs instances and
//! routes traffic to them. The local driver runs child processes behind gantry's router; a
//! Kubernetes driver would map the same calls onto Deployments and HTTPRoute weights.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use gantry_config::Health;

use crate::limits::{Enforcement, Limits};
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
    /// Resource limits (the service's `resources:`).
    pub limits: Limits,
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
    /// How the instance's resource limits are enforced.
    #[serde(default)]
    pub limits: Enforcement,
    /// Why the instance's process last ended, when it ended on its own (`OOMKilled`,
    /// `OOMKilled (rlimit)`, `exit status: 1`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
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

/// How many instance events a driver may have waiting for the control plane before its
/// sender waits (the driver's event channel is bounded: back-pressure, never loss).
pub const EVENT_QUEUE: usize = 1024;

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
    /// Failed requests: HTTP 5xx and gRPC calls that ended with one of the service's
    /// error codes.
    pub errors_5xx: u64,
    /// Of `errors_5xx`, the gRPC calls, so a verdict can say which kind failed.
    #[serde(default)]
    pub grpc_errors: u64,
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

/// A boxed future, so that the control plane can hold any driver as `Arc<dyn Driver>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An instance a previous control plane started, as its ledger remembers it: enough to
/// recognise it safely (a recycled pid or process group is never mistaken for it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorInstance {
    pub service: String,
    pub version: String,
    pub instance: String,
    pub pid: Option<u32>,
    pub pgid: Option<i32>,
    pub addr: Option<SocketAddr>,
    /// When the process started, in the driver's own terms (the local driver: clock ticks
    /// since boot, from `/proc/PID/stat`).
    pub start_time: Option<u64>,
}

/// What became of a [`PriorInstance`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reclaimed {
    /// Verified as the very instance and supervised again (probes decide when it is ready).
    Adopted,
    /// Stopped; `reason` says why it was not adopted.
    Killed { reason: String },
    /// Nothing of it is running any more.
    Gone,
    /// Its pid/group now belongs to something else: left alone.
    NotOurs,
}

impl Reclaimed {
    pub fn name(&self) -> &'static str {
        match self {
            Reclaimed::Adopted => "adopted",
            Reclaimed::Killed { .. } => "killed",
            Reclaimed::Gone => "gone",
            Reclaimed::NotOurs => "not ours (left alone)",
        }
    }
}

/// A place that runs instances and routes traffic to them. Object safe: the control plane
/// holds an `Arc<dyn Driver>` and knows nothing of processes, pods or routers.
pub trait Driver: Send + Sync + 'static {
    /// Starts serving `service` on its stable address; returns the bound address.
    fn open(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError>;
    /// Takes the settings of a service added after the driver was made (a config reload),
    /// before it is opened. Drivers that read nothing per service ignore it.
    fn configure(&self, _service: &str, _settings: &gantry_config::Service) {}
    /// Starts serving the preview address of `service` (blue-green).
    fn open_preview(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError>;
    /// The address `service` is served on, once opened.
    fn listen_addr(&self, service: &str) -> Option<SocketAddr>;
    /// The preview address of `service`, once opened.
    fn preview_addr(&self, service: &str) -> Option<SocketAddr>;
    /// Starts one instance; returns once it is launched (readiness comes later, as events).
    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<InstanceStatus, DriverError>>;
    /// Takes the instance out of traffic, lets in-flight requests finish, stops it.
    fn stop<'a>(
        &'a self,
        service: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>>;
    /// Sets the traffic split of `service`; only ready instances ever get traffic.
    fn set_traffic(&self, service: &str, traffic: &Traffic);
    /// The traffic split last set for `service`.
    fn traffic(&self, service: &str) -> Traffic;
    /// The instances of `service` and their health.
    fn instances(&self, service: &str) -> Vec<InstanceStatus>;
    /// Measurements of `version` of `service` on its stable address over the last `window`.
    fn measure(&self, service: &str, version: &str, window: Duration) -> Measurement;
    /// The same on the preview address (blue-green analysis before promotion).
    fn measure_preview(&self, service: &str, version: &str, window: Duration) -> Measurement;
    /// Deals with an instance a previous control plane left behind: with `adopt` (the spec
    /// it would be started with now), the driver supervises it again if it verifies that it
    /// is that very instance of that version; otherwise, or if it is not, stops it.
    fn reclaim(
        &self,
        prior: PriorInstance,
        adopt: Option<InstanceSpec>,
    ) -> BoxFuture<'_, Reclaimed>;
    /// Stops serving everything and every instance (graceful shutdown).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
    /// CPU seconds instance `instance` of `service` has used so far, where the driver can
    /// measure it (for `scaling:`); `None` where it cannot, and then nothing is scaled.
    fn cpu_seconds(&self, _service: &str, _instance: &str) -> Option<f64> {
        None
    }

    /// Lifetime request counters of `service` on its stable address, for `/metrics`;
    /// `None` from a driver whose data plane does not count them.
    fn request_totals(&self, _service: &str) -> Option<crate::RequestTotals> {
        None
    }
}
