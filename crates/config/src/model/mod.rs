//! The typed model of `gantry.yaml`.
//!
//! Every struct rejects unknown keys, every optional field has a documented default, and the
//! values that semantic checks point at are [`Spanned`] so that errors name their line and
//! column.

mod access;
mod agents;
mod alerts;
mod analysis;
mod environment;
mod health;
mod monitor;
mod notify;
mod pipeline;
mod policy;
mod releases_from;
mod router;
mod scaling;
mod service;
mod status;
mod step;
mod strategy;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use access::{Access, CustomRole, RoleBudget};
pub use agents::{Agent, AgentMode, Ledger};
pub use alerts::{AlertCondition, AlertRule, When};
pub use analysis::{Analysis, Inconclusive, Prometheus, unknown_placeholders};
pub use environment::{
    Approval, DeployTarget, Environment, LocalSettings, split_target, target_name,
};
pub use health::{Health, Probe, ProbeCheck};
pub use monitor::{
    DEFAULT_MONITOR_INTERVAL, DEFAULT_PROBE_TIMEOUT, EnvText, Monitor, MonitorTarget, ResolveError,
    TargetCheck, parse_cron,
};
pub use notify::{
    ChannelSettings, Grouping, Notifier, NotifySeverity, SlackLike, Webhook, channel_names,
};
pub use pipeline::{Budget, Checkpoint, DEFAULT_REPORT, Pipeline, Stage, Summary};
pub use policy::{Policy, RuleName, ServicePolicy, Severity};
pub use releases_from::{GitReleases, ReleasesFrom};
pub(crate) use router::parse_proxy as router_parse_proxy;
pub use router::{GRPC_STATUS_NAMES, RouterSettings, TlsFiles, UpstreamProtocol};
pub use scaling::Scaling;
pub use service::{Listen, OnRestart, Release, Resources, Service};
pub use status::{GithubStatus, StatusSettings};
pub use step::{
    Condition, DoctorStep, StatusFormat, StatusStep, Step, StepAction, StepEnv, Toggle,
};
pub use strategy::{BlueGreen, Canary, CanaryStep, Rolling, Scale, Strategy, StrategyKind};

use crate::Spanned;

/// A whole `gantry.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Project name; used in ledger seals (`gantry/<project>`) and reports. Not empty.
    #[serde(deserialize_with = "non_empty")]
    pub project: String,
    /// The role directory: role name (planner, operator, verifier or any other) → agent.
    #[serde(default, deserialize_with = "null_default")]
    pub agents: BTreeMap<String, Spanned<Agent>>,
    /// Evidence ledger settings.
    #[serde(default)]
    pub ledger: Ledger,
    /// Services gantry deploys, by name.
    #[serde(default, deserialize_with = "null_default")]
    pub services: BTreeMap<String, Spanned<Service>>,
    /// Release pipelines, by name (`gantry run NAME`).
    #[serde(default, deserialize_with = "null_default")]
    pub pipelines: BTreeMap<String, Spanned<Pipeline>>,
    /// Scheduled probes behind the status report; none when absent.
    #[serde(default)]
    pub monitor: Option<Monitor>,
    /// Where notifications go (Slack, Discord, generic webhooks), in order; `gantry serve`
    /// delivers them.
    #[serde(default, deserialize_with = "null_default")]
    pub notify: Vec<Spanned<Notifier>>,
    /// Alert rules over gantry's own signals, evaluated by `gantry serve`.
    #[serde(default, deserialize_with = "null_default")]
    pub alerts: Vec<Spanned<AlertRule>>,
    /// Policy-gate settings (`gantry check`, `gantry policy check`): severities by rule,
    /// per-service overrides and runbook links. Default: every rule at its own severity.
    #[serde(default, deserialize_with = "null_default")]
    pub policy: Policy,
    /// Not supported yet: `gantry check` refuses it at its line (the status report's
    /// places are `.gantry/status.{md,json}`, `--out FILE` and `status.github`). Read
    /// loosely so that the refusal, not a parse error, is what the user sees.
    #[serde(default)]
    pub reports: Option<Spanned<serde_json::Value>>,
    /// Custom roles for API and MCP tokens (the built-in roles need none).
    #[serde(default)]
    pub access: Access,
    /// Deploy targets (dev, staging, production, …), by name. None: one implicit
    /// environment, every service on its own `listen:`.
    #[serde(default, deserialize_with = "null_default")]
    pub environments: BTreeMap<String, Spanned<Environment>>,
    /// The order a version goes through `environments:`; a deploy to one of them needs the
    /// same version stable (and soaked) in the one before. Default: no order.
    #[serde(default, deserialize_with = "null_default")]
    pub promotion: Vec<Spanned<String>>,
    /// Where the status report is kept besides `.gantry/status.md` (a GitHub issue).
    #[serde(default)]
    pub status: StatusSettings,
}

fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(serde::de::Error::custom("project name is empty"));
    }
    Ok(s)
}

/// Reads a collection that may be written empty (`notify:` followed only by comments) as
/// its default.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}
