//! gantry's deployment core, without I/O: the [`Driver`] trait that backends implement
//! (local processes now, Kubernetes later), strategy step planning ([`plan`]), analysis
//! verdicts ([`analysis`]), the deployment state machine ([`machine`]), the probe
//! threshold and restart-backoff logic ([`health`]), the rollout's progress deadline
//! ([`progress`]) and how a traffic split reads ([`share`]).
//!
//! The control plane (`gantry-server`) executes plans against a driver; everything that
//! decides *what* to do lives here and is unit-tested with plain data.

pub mod analysis;
pub mod analysis_prometheus;
pub mod autoscale;
mod driver;
pub mod health;
mod limits;
pub mod machine;
pub mod plan;
pub mod progress;
pub mod share;
mod totals;

pub use analysis::{Figures, Tally, Verdict, judge, no_evidence};
pub use driver::{
    BoxFuture, Driver, DriverError, EVENT_QUEUE, EventKind, InstanceEvent, InstancePhase,
    InstanceSpec, InstanceStatus, Measurement, PriorInstance, Reclaimed, Traffic,
};
pub use limits::{Enforcement, Limits};
pub use machine::{
    ApprovalStatus, DeploymentStatus, LastAnalysis, Op, PauseView, Phase, TimelineEvent,
};
pub use plan::{Plan, Step, plan_deploy, plan_rollback};
pub use progress::{Deadline, Progress, ProgressClock, Stall};
pub use totals::{RequestTotals, VersionRequestTotals};
