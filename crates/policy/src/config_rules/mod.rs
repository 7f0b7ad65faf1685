//! The rules applied to `gantry.yaml`: every service, and the pipelines that deploy it.

mod pipelines;

use std::path::Path;

use gantry_config::{Config, Pos, RuleName, Service, Spanned};

use crate::severity::severity;
use crate::{Location, Report, Violation};

pub(crate) use pipelines::{STAGING, deploys, is_scan};

/// Checks every service of `config` (read from `file`). `root` is the project directory,
/// where linked runbooks must exist; `None` leaves their existence unchecked.
#[must_use]
pub fn check_config(config: &Config, file: &str, root: Option<&Path>) -> Report {
    check_with(config, file, root, None, &|service, rule| {
        severity(&config.policy, Some(service), rule)
    })
}

/// The rules over `config` with severities from `severity_of(service, rule)`; only the
/// service `only` when given.
pub(crate) fn check_with(
    config: &Config,
    file: &str,
    root: Option<&Path>,
    only: Option<&str>,
    severity_of: &dyn Fn(&str, RuleName) -> gantry_config::Severity,
) -> Report {
    let mut found = Vec::new();
    for (name, service) in &config.services {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let mut add = |rule: RuleName, pos: Pos, message: String| {
            found.push(Violation {
                rule,
                severity: severity_of(name, rule),
                service: Some(name.clone()),
                location: Location::config(file, pos),
                message,
            });
        };
        service_rules(config, name, service, root, &mut add);
        release_rules(config, name, service.pos, &mut add);
    }
    Report::from_unsorted(found)
}

type Add<'a> = dyn FnMut(RuleName, Pos, String) + 'a;

fn service_rules(
    config: &Config,
    name: &str,
    service: &Spanned<Service>,
    root: Option<&Path>,
    add: &mut Add<'_>,
) {
    let at = service.pos;
    if service.health.readiness.is_none() {
        add(
            RuleName::ReadinessProbeMissing,
            at,
            format!(
                "service '{name}' has no readiness probe, so unready instances get traffic; add `health: {{ readiness: {{ http: /health, period: 5s }} }}`"
            ),
        );
    }
    if service.health.liveness.is_none() {
        add(
            RuleName::LivenessProbeMissing,
            at,
            format!(
                "service '{name}' has no liveness probe, so a hung instance is never restarted; add `health: {{ liveness: {{ http: /health, period: 10s }} }}`"
            ),
        );
    }
    if service.analysis.is_none() && !pipelines::has_rollback_stage(config, name) {
        add(
            RuleName::RollbackMissing,
            at,
            format!(
                "service '{name}' has no rollback plan: no `analysis:` to roll back automatically and no `if: failure()` stage that rolls back; add `analysis: {{ error_rate: \"< 1%\", window: 30s }}`"
            ),
        );
    }
    let monitored = config
        .monitor
        .as_ref()
        .is_some_and(|m| !m.targets.is_empty());
    if service.analysis.is_none() && !monitored {
        add(
            RuleName::MonitoringMissing,
            at,
            format!(
                "service '{name}' is not monitored: no `analysis:` rules and no `monitor:` targets; add `analysis: {{ error_rate: \"< 1%\", latency_p99: \"< 500ms\" }}`"
            ),
        );
    }
    if config.notify.is_empty() {
        add(
            RuleName::AlertsMissing,
            at,
            format!(
                "service '{name}' has no alerts: nobody hears of a rollback; add a notification channel, e.g. `notify: [ {{ slack: {{ webhook_env: SLACK_WEBHOOK_URL }} }} ]`"
            ),
        );
    }
    runbook_rule(config, name, at, root, add);
    let resources = service.resources.as_ref();
    if resources.and_then(|r| r.cpu.as_ref()).is_none() {
        add(
            RuleName::CpuLimitsMissing,
            at,
            format!("service '{name}' has no CPU limit; add `resources: {{ cpu: 500m }}`"),
        );
    }
    if resources.and_then(|r| r.memory.as_ref()).is_none() {
        add(
            RuleName::MemoryLimitsMissing,
            at,
            format!("service '{name}' has no memory limit; add `resources: {{ memory: 256Mi }}`"),
        );
    }
    if *service.instances < 2 {
        let pos = if service.instances.pos.is_known() {
            service.instances.pos
        } else {
            at
        };
        add(
            RuleName::ReplicasTooFew,
            pos,
            format!(
                "service '{name}' runs {} instance(s), so one failure is an outage; add `instances: 2` or more",
                *service.instances
            ),
        );
    }
    for (version, release) in &service.releases {
        if version.eq_ignore_ascii_case("latest") {
            add(
                RuleName::VersionNotPinned,
                release.run.pos,
                format!(
                    "release 'latest' of service '{name}' names no fixed version; name releases by version (e.g. `v1.4.2`)"
                ),
            );
        }
        if let Some(image) = &release.image
            && !image_is_pinned(image)
        {
            add(
                RuleName::VersionNotPinned,
                release.run.pos,
                format!(
                    "image '{image}' of release '{version}' of service '{name}' is not pinned; add a version tag or digest (`{}:1.2.3` or `@sha256:…`)",
                    image.trim_end_matches(":latest")
                ),
            );
        }
    }
}

fn runbook_rule(config: &Config, name: &str, at: Pos, root: Option<&Path>, add: &mut Add<'_>) {
    let runbook = config
        .policy
        .services
        .get(name)
        .and_then(|s| s.runbook.as_ref());
    let Some(runbook) = runbook else {
        add(
            RuleName::RunbookMissing,
            at,
            format!(
                "service '{name}' has no runbook; add `policy: {{ services: {{ {name}: {{ runbook: docs/runbooks/{name}.md }} }} }}`"
            ),
        );
        return;
    };
    let link = runbook.trim();
    let is_url = link.starts_with("https://") || link.starts_with("http://");
    if let Some(root) = root
        && !is_url
        && !root.join(link).is_file()
    {
        add(
            RuleName::RunbookMissing,
            runbook.pos,
            format!(
                "the runbook '{link}' of service '{name}' does not exist; write it, or link an https:// page"
            ),
        );
    }
}

/// `name:1.2`, `name@sha256:…`: pinned. `name`, `name:latest`: not.
fn image_is_pinned(image: &str) -> bool {
    if image.contains('@') {
        return true;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':')
        .is_some_and(|(_, tag)| !tag.is_empty() && tag != "latest")
}

/// `stagingMissing` and `securityScanMissing`: what runs before the service reaches
/// production.
fn release_rules(config: &Config, name: &str, at: Pos, add: &mut Add<'_>) {
    let deploys = deploys(config, name);
    // `promotion: [.., staging, .., production]` holds every production deploy to a
    // version that passed staging, so staging is never missing before it.
    let promoted = pipelines::promoted_through_staging(config, None);
    if deploys.is_empty() {
        if !promoted {
            add(
                RuleName::StagingMissing,
                at,
                format!(
                    "service '{name}' goes to production with no staging stage: no pipeline deploys it; add a pipeline stage `- {{ deploy: {name}, env: {STAGING} }}` before the production deploy"
                ),
            );
        }
        add(
            RuleName::SecurityScanMissing,
            at,
            format!(
                "service '{name}' has no release pipeline, so nothing scans it; add a pipeline with a scan step (e.g. `- {{ name: scan, run: trivy fs --exit-code 1 . }}`) before `deploy: {name}`"
            ),
        );
        return;
    }
    let production: Vec<_> = deploys.iter().filter(|d| d.is_production()).collect();
    if production.is_empty() && !promoted && !deploys.iter().any(|d| d.is_staging()) {
        let d = &deploys[0];
        add(
            RuleName::StagingMissing,
            d.pos,
            format!(
                "no pipeline deploys service '{name}' to {STAGING}; add `- {{ deploy: {name}, env: {STAGING} }}` before it reaches production"
            ),
        );
    }
    for d in &production {
        let stage = &config.pipelines[d.pipeline].stages[d.stage].name;
        if !pipelines::before(config, d, |s| pipelines::deploys_to_staging(s, name))
            && !pipelines::promoted_through_staging(config, d.env)
        {
            add(
                RuleName::StagingMissing,
                d.pos,
                format!(
                    "pipeline '{}' deploys service '{name}' to production in stage '{}' with no staging deploy before it; add `- {{ deploy: {name}, env: {STAGING} }}` in a stage it needs",
                    d.pipeline, stage.value
                ),
            );
        }
    }
    let gated: Vec<_> = if production.is_empty() {
        deploys.iter().collect()
    } else {
        production
    };
    for d in gated {
        if !pipelines::before(config, d, is_scan) {
            add(
                RuleName::SecurityScanMissing,
                d.pos,
                format!(
                    "pipeline '{}' deploys service '{name}' with no security scan before it; add a step such as `- {{ name: scan, run: trivy fs --exit-code 1 . }}` in a stage it needs",
                    d.pipeline
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::image_is_pinned;

    #[test]
    fn images_are_pinned_by_tag_or_digest() {
        assert!(image_is_pinned("nginx:1.27.2"));
        assert!(image_is_pinned("ghcr.io/x/web@sha256:abcd"));
        assert!(image_is_pinned("localhost:5000/web:v2"));
        assert!(!image_is_pinned("nginx"));
        assert!(!image_is_pinned("nginx:latest"));
        assert!(!image_is_pinned("localhost:5000/web"));
    }
}
