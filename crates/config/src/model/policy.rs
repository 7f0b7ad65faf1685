//! The policy gate's settings (`policy:`): per-rule severities, a default for every rule,
//! and per-service overrides and runbook links. The rules themselves live in
//! `gantry-policy`; this is only what `gantry.yaml` may say about them.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Spanned;

/// ```yaml
/// policy:
///   default: warning          # every rule not named below (absent: each rule's own)
///   rules: { replicasTooFew: danger, versionNotPinned: ignore }
///   services:
///     web:
///       runbook: docs/runbooks/web.md
///       rules: { stagingMissing: ignore }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Severity of every rule not named in `rules:`. Absent: each rule's own default.
    #[serde(default)]
    pub default: Option<Spanned<Severity>>,
    /// Severity by rule, for every service.
    #[serde(default, deserialize_with = "super::null_default")]
    pub rules: BTreeMap<RuleName, Spanned<Severity>>,
    /// Per-service settings, by service name (from `services:`).
    #[serde(default, deserialize_with = "super::null_default")]
    pub services: BTreeMap<String, Spanned<ServicePolicy>>,
}

/// What `policy.services.NAME` may say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePolicy {
    /// The service's runbook: a path relative to the project root (it must exist) or an
    /// `http(s)://` link. Satisfies `runbookMissing`.
    #[serde(default)]
    pub runbook: Option<Spanned<String>>,
    /// Severity by rule for this service; overrides `policy.rules` and `policy.default`.
    #[serde(default, deserialize_with = "super::null_default")]
    pub rules: BTreeMap<RuleName, Spanned<Severity>>,
}

/// How a violated rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Not reported.
    Ignore,
    /// Reported; does not fail the gate.
    Warning,
    /// Reported; the gate fails (exit 1).
    Danger,
}

impl Severity {
    /// `ignore`, `warning` or `danger`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Ignore => "ignore",
            Severity::Warning => "warning",
            Severity::Danger => "danger",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy rules, by the names Polaris, kube-linter and Kyverno users know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RuleName {
    /// No readiness probe.
    ReadinessProbeMissing,
    /// No liveness probe.
    LivenessProbeMissing,
    /// Neither automatic rollback by analysis nor a rollback stage.
    RollbackMissing,
    /// No analysis rules and no monitor targets.
    MonitoringMissing,
    /// No alert channel (`notify:`).
    AlertsMissing,
    /// No runbook linked.
    RunbookMissing,
    /// No CPU limit.
    CpuLimitsMissing,
    /// No memory limit.
    MemoryLimitsMissing,
    /// A production deploy with no staging deploy before it.
    StagingMissing,
    /// A release pipeline with no security scan step.
    SecurityScanMissing,
    /// Fewer than two instances.
    ReplicasTooFew,
    /// A release that names no fixed version (`latest`, an untagged image).
    VersionNotPinned,
}

impl RuleName {
    /// Every rule, in the order the gate reports them for one place.
    pub const ALL: [RuleName; 12] = [
        RuleName::ReadinessProbeMissing,
        RuleName::LivenessProbeMissing,
        RuleName::RollbackMissing,
        RuleName::MonitoringMissing,
        RuleName::AlertsMissing,
        RuleName::RunbookMissing,
        RuleName::CpuLimitsMissing,
        RuleName::MemoryLimitsMissing,
        RuleName::StagingMissing,
        RuleName::SecurityScanMissing,
        RuleName::ReplicasTooFew,
        RuleName::VersionNotPinned,
    ];

    /// The rule's name as written in config and output (`readinessProbeMissing`).
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleName::ReadinessProbeMissing => "readinessProbeMissing",
            RuleName::LivenessProbeMissing => "livenessProbeMissing",
            RuleName::RollbackMissing => "rollbackMissing",
            RuleName::MonitoringMissing => "monitoringMissing",
            RuleName::AlertsMissing => "alertsMissing",
            RuleName::RunbookMissing => "runbookMissing",
            RuleName::CpuLimitsMissing => "cpuLimitsMissing",
            RuleName::MemoryLimitsMissing => "memoryLimitsMissing",
            RuleName::StagingMissing => "stagingMissing",
            RuleName::SecurityScanMissing => "securityScanMissing",
            RuleName::ReplicasTooFew => "replicasTooFew",
            RuleName::VersionNotPinned => "versionNotPinned",
        }
    }
}

impl fmt::Display for RuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
