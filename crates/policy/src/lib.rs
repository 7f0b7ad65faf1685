//! The policy gate: production-readiness rules with the names Polaris, kube-linter and
//! Kyverno users know (`readinessProbeMissing`, `rollbackMissing`, `stagingMissing`, …),
//! applied to `gantry.yaml` ([`check_config`]) or to a deployment plan another agent wrote
//! ([`check_plan`]). Each violation is one line: where, the rule, what to add. The gate
//! vetoes when any violation has severity `danger` ([`Report::vetoed`]).
//!
//! Pure: the config or plan comes in, a [`Report`] goes out; the only look at the disk is
//! whether a linked runbook exists, and only when a project root is given.

mod config_rules;
mod environment;
mod error;
mod plan;
mod severity;
mod violation;

pub use config_rules::check_config;
pub use environment::{check_deploy, severity_in};
pub use error::PolicyError;
pub use plan::{
    DeploymentStrategy, HealthChecks, Infrastructure, Monitoring, Plan, PlanOptions, PlanStage,
    Resources, Rollback, check_plan, plan_for,
};
pub use severity::{default_severity, severity};
pub use violation::{Location, Report, Violation};
