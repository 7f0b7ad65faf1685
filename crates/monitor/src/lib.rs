//! gantry's monitoring: probes of `monitor.targets` and of every managed service, their
//! schedule (interval or cron), the status model (OPERATIONAL / DEGRADED / CRITICAL) and
//! the status report in Markdown and JSON.
//!
//! Probe samples are results and metrics, never ledger entries; only status transitions
//! are recorded (by the control plane, as `status.changed`).

pub mod alerts;
mod error;
pub mod git;
pub mod github;
pub mod metrics;
pub mod notify;
pub mod probe;
pub mod render;
pub mod report;
pub mod round;
pub mod schedule;
pub mod status;
pub mod targets;

pub use error::MonitorError;
pub use probe::{Check, ProbeResult};
pub use report::{Inputs, Live, Report, Sample};
pub use schedule::Schedule;
pub use status::{Level, Reason};
pub use targets::Target;
