//! The rules applied to a deployment plan. Locations are JSON Pointers into the plan.

use gantry_config::{Policy, RuleName};

use super::{Plan, PlanStage};
use crate::severity::severity;
use crate::{Location, Report, Violation};

/// Words in a stage's tests that make it a security scan.
const SCAN_WORDS: [&str; 8] = [
    "scan", "audit", "trivy", "grype", "snyk", "semgrep", "sast", "gitleaks",
];

/// Checks `plan` (read from `file`) under `policy` (the project's, or the default).
#[must_use]
pub fn check_plan(plan: &Plan, file: &str, policy: &Policy) -> Report {
    let service = plan.service.as_deref();
    let mut found = Vec::new();
    let mut add = |rule: RuleName, pointer: &str, message: String| {
        found.push(Violation {
            rule,
            severity: severity(policy, service, rule),
            service: service.map(str::to_string),
            location: Location::Plan {
                file: file.to_string(),
                pointer: pointer.to_string(),
            },
            message,
        });
    };
    let health = plan.health_checks.as_ref();
    if !health.is_some_and(|h| present(h.readiness.as_ref())) {
        add(
            RuleName::ReadinessProbeMissing,
            "/health_checks/readiness",
            "the plan has no readiness check, so unready instances get traffic; add `health_checks.readiness` (e.g. {\"type\": \"http\", \"path\": \"/health\", \"period_seconds\": 5})".to_string(),
        );
    }
    if !health.is_some_and(|h| present(h.liveness.as_ref())) {
        add(
            RuleName::LivenessProbeMissing,
            "/health_checks/liveness",
            "the plan has no liveness check, so a hung instance is never restarted; add `health_checks.liveness` (e.g. {\"type\": \"http\", \"path\": \"/health\", \"period_seconds\": 10})".to_string(),
        );
    }
    let stages = plan
        .deployment_strategy
        .as_ref()
        .map_or(&[][..], |d| &d.stages[..]);
    let rollback = plan.rollback.as_ref();
    let planned = rollback.is_some_and(|r| !r.triggers.is_empty() && present(r.procedure.as_ref()));
    if !planned && !stages.iter().any(|s| s.rollback_automatic == Some(true)) {
        add(
            RuleName::RollbackMissing,
            "/rollback",
            "the plan has no rollback plan: no `rollback.triggers` with a `procedure`, and no stage with `rollback_automatic: true`; add them".to_string(),
        );
    }
    let monitoring = plan.monitoring.as_ref();
    if !monitoring.is_some_and(|m| !m.metrics.is_empty() || !m.dashboards.is_empty()) {
        add(
            RuleName::MonitoringMissing,
            "/monitoring/metrics",
            "the plan watches nothing: `monitoring.metrics` and `monitoring.dashboards` are empty; add the metrics that judge the rollout (e.g. \"error_rate < 1%\")".to_string(),
        );
    }
    if monitoring.is_none_or(|m| m.alerts.is_empty()) {
        add(
            RuleName::AlertsMissing,
            "/monitoring/alerts",
            "the plan has no alerts: `monitoring.alerts` is empty; add where alerts go and on what"
                .to_string(),
        );
    }
    if plan.runbook.as_deref().is_none_or(|r| r.trim().is_empty()) {
        add(
            RuleName::RunbookMissing,
            "/runbook",
            "the plan links no runbook; add `runbook` (a path or an https:// link)".to_string(),
        );
    }
    let resources = plan
        .infrastructure
        .as_ref()
        .and_then(|i| i.resources_required.as_ref());
    if resources
        .and_then(|r| r.cpu.as_deref())
        .is_none_or(|c| c.trim().is_empty())
    {
        add(
            RuleName::CpuLimitsMissing,
            "/infrastructure/resources_required/cpu",
            "the plan sets no CPU limit; add `infrastructure.resources_required.cpu` (e.g. \"500m\")".to_string(),
        );
    }
    if resources
        .and_then(|r| r.memory.as_deref())
        .is_none_or(|m| m.trim().is_empty())
    {
        add(
            RuleName::MemoryLimitsMissing,
            "/infrastructure/resources_required/memory",
            "the plan sets no memory limit; add `infrastructure.resources_required.memory` (e.g. \"256Mi\")".to_string(),
        );
    }
    let replicas = resources.and_then(|r| r.replicas).unwrap_or(1);
    if replicas < 2 {
        add(
            RuleName::ReplicasTooFew,
            "/infrastructure/resources_required/replicas",
            format!(
                "the plan runs {replicas} replica(s), so one failure is an outage; set `infrastructure.resources_required.replicas` to 2 or more"
            ),
        );
    }
    if plan
        .version
        .as_deref()
        .is_none_or(|v| v.trim().is_empty() || v.eq_ignore_ascii_case("latest"))
    {
        add(
            RuleName::VersionNotPinned,
            "/version",
            "the plan names no fixed version; add `version` (e.g. \"v1.4.2\")".to_string(),
        );
    }
    release_rules(plan, stages, &mut add);
    Report::from_unsorted(found)
}

/// `stagingMissing`, `securityScanMissing`: what comes before the production stage.
fn release_rules(plan: &Plan, stages: &[PlanStage], add: &mut dyn FnMut(RuleName, &str, String)) {
    let target = plan.environment.as_deref().unwrap_or("production");
    if !is_production(target) {
        return;
    }
    let first_production = stages
        .iter()
        .position(|s| environment_of(s).is_some_and(is_production))
        .or_else(|| stages.len().checked_sub(1));
    let before = first_production.map_or(&[][..], |i| &stages[..i]);
    let pointer = first_production.map_or_else(
        || "/deployment_strategy/stages".to_string(),
        |i| format!("/deployment_strategy/stages/{i}"),
    );
    if !before.iter().any(|s| environment_of(s) == Some("staging")) {
        add(
            RuleName::StagingMissing,
            &pointer,
            "the plan goes to production with no staging stage before it; add a stage {\"stage\": \"staging\", \"tests\": [...]} ahead of it".to_string(),
        );
    }
    if !before.iter().any(|s| s.tests.iter().any(|t| is_scan(t))) {
        add(
            RuleName::SecurityScanMissing,
            &pointer,
            "no stage before production runs a security scan; add one to a stage's `tests` (e.g. \"scan: trivy fs --exit-code 1 .\")".to_string(),
        );
    }
}

/// A stage's environment: its `environment`, else what its name says.
fn environment_of(stage: &PlanStage) -> Option<&str> {
    if let Some(env) = stage.environment.as_deref() {
        return Some(env);
    }
    let name = stage.stage.to_lowercase();
    if name.contains("stag") {
        Some("staging")
    } else if name.contains("prod") {
        Some("production")
    } else {
        None
    }
}

fn is_production(env: &str) -> bool {
    matches!(env, "production" | "prod")
}

fn is_scan(test: &str) -> bool {
    test.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .any(|w| SCAN_WORDS.contains(&w.to_lowercase().as_str()))
}

/// A value that says something: not null, not an empty string, list or object.
fn present(value: Option<&serde_json::Value>) -> bool {
    match value {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        Some(serde_json::Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}
