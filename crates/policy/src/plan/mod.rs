//! The deployment plan production agents exchange (`gantry plan` prints one; `gantry
//! policy check --plan` gates one another agent wrote). Every field is optional on input,
//! so that a plan missing something is vetoed by the rule that names it rather than
//! refused as malformed; unknown fields are kept out of the way (ignored). The schema is
//! `schemas/plan.schema.json`.

mod from_config;
mod rules;

pub use from_config::{PlanOptions, plan_for};
pub use rules::check_plan;

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// A deployment plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The work item this deploy belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epic_id: Option<String>,
    /// Which attempt at the epic this plan is (1 for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u64>,
    /// When the plan was made (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The service deployed (gantry's extension; per-service `policy:` applies to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The version deployed (gantry's extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The environment the plan ends in (gantry's extension). Default: production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// A path or link to the service's runbook (gantry's extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// How the version is rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_strategy: Option<DeploymentStrategy>,
    /// What the service needs to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<Infrastructure>,
    /// How the rollout is watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<Monitoring>,
    /// Readiness and liveness checks: each a description or an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_checks: Option<HealthChecks>,
    /// How the rollout is undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
}

/// `deployment_strategy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStrategy {
    /// `canary`, `blue_green`, `rolling`, …
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Why this strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The stages, in order.
    #[serde(default)]
    pub stages: Vec<PlanStage>,
}

/// One stage of a plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanStage {
    /// Its name (`staging`, `production-canary-10`, …).
    #[serde(default)]
    pub stage: String,
    /// The environment it deploys to (gantry's extension); absent: read from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Runs without anyone's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<bool>,
    /// Checks run in this stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    /// A failure here rolls back without anyone's action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_automatic: Option<bool>,
    /// How long the version soaks here before the next stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_time_hours: Option<f64>,
    /// A role must approve before this stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_required: Option<bool>,
    /// Share of traffic for a canary stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_percentage: Option<f64>,
    /// How long a canary stage lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_duration_hours: Option<f64>,
}

/// `infrastructure`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Infrastructure {
    /// Per-instance resources and the instance count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_required: Option<Resources>,
    /// Autoscaling; `null` for a fixed instance count.
    #[serde(default)]
    pub scaling: Option<serde_json::Value>,
}

/// `infrastructure.resources_required`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPU limit (Kubernetes units, `500m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory limit (Kubernetes units, `256Mi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
}

/// `monitoring`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Monitoring {
    /// What is measured.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// Where people look.
    #[serde(default)]
    pub dashboards: Vec<String>,
    /// Where alerts go, and on what.
    #[serde(default)]
    pub alerts: Vec<String>,
}

/// `health_checks`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthChecks {
    /// Readiness check: a description or an object (`{type, path, period_seconds, …}`).
    #[serde(default)]
    pub readiness: Option<serde_json::Value>,
    /// Liveness check, in the same form.
    #[serde(default)]
    pub liveness: Option<serde_json::Value>,
}

/// `rollback`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rollback {
    /// What starts a rollback.
    #[serde(default)]
    pub triggers: Vec<String>,
    /// How it is done: one text or a list of steps.
    #[serde(default)]
    pub procedure: Option<serde_json::Value>,
    /// Upper bound on the time from trigger to the old version serving everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_rollback_seconds: Option<f64>,
}

impl Plan {
    /// Reads a plan from JSON text; `file` names it in errors (`-` for stdin).
    pub fn from_json(file: &str, text: &str) -> Result<Plan, PolicyError> {
        serde_json::from_str(text).map_err(|source| {
            let mut message = source.to_string();
            if let Some(at) = message.rfind(" at line ") {
                message.truncate(at);
            }
            PolicyError::Plan {
                file: file.to_string(),
                line: source.line(),
                column: source.column(),
                message,
            }
        })
    }
}
