//! Which severity a rule has for a service: the rule's default, unless `policy:` says
//! otherwise.

use gantry_config::{Policy, RuleName, Severity};

/// A rule's severity when `policy:` says nothing about it. The production guardian's veto
/// triggers (no health checks, no rollback plan, no monitoring or alerts, no runbook, no
/// resource limits, no staging before production, no security scan) are `danger`; the
/// rest warn.
#[must_use]
pub fn default_severity(rule: RuleName) -> Severity {
    match rule {
        RuleName::ReplicasTooFew | RuleName::VersionNotPinned => Severity::Warning,
        _ => Severity::Danger,
    }
}

/// The severity of `rule` for `service`: `policy.services.S.rules`, else `policy.rules`,
/// else `policy.default`, else [`default_severity`].
#[must_use]
pub fn severity(policy: &Policy, service: Option<&str>, rule: RuleName) -> Severity {
    let per_service = service
        .and_then(|s| policy.services.get(s))
        .and_then(|s| s.rules.get(&rule));
    per_service
        .or_else(|| policy.rules.get(&rule))
        .or(policy.default.as_ref())
        .map_or_else(|| default_severity(rule), |s| **s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(policy: &str) -> Policy {
        let text = format!(
            "project: t\nservices:\n  web: {{ listen: 127.0.0.1:1, releases: {{ v1: {{ run: x }} }} }}\npolicy:\n{policy}"
        );
        gantry_config::parse("gantry.yaml", &text).unwrap().policy
    }

    #[test]
    fn the_most_specific_setting_wins() {
        let p = parse(
            "  default: warning\n  rules: { stagingMissing: ignore }\n  services: { web: { rules: { stagingMissing: danger } } }\n",
        );
        let web = Some("web");
        assert_eq!(
            severity(&p, web, RuleName::StagingMissing),
            Severity::Danger
        );
        assert_eq!(
            severity(&p, None, RuleName::StagingMissing),
            Severity::Ignore
        );
        assert_eq!(
            severity(&p, web, RuleName::RunbookMissing),
            Severity::Warning
        );
    }

    #[test]
    fn without_policy_the_defaults_apply() {
        let p = Policy::default();
        assert_eq!(
            severity(&p, None, RuleName::ReadinessProbeMissing),
            Severity::Danger
        );
        assert_eq!(
            severity(&p, None, RuleName::ReplicasTooFew),
            Severity::Warning
        );
        // Notification channels exist, so a service nobody hears about is vetoed.
        assert_eq!(
            severity(&p, None, RuleName::AlertsMissing),
            Severity::Danger
        );
    }
}
