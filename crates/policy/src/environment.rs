//! The gate at deploy time: one service, in one environment, whose own `policy:` is
//! consulted before the top-level one (so dev may relax what production enforces).

use std::path::Path;

use gantry_config::{Config, Policy, RuleName, Severity};

use crate::Report;
use crate::severity::severity;

/// What `policy` itself says about `rule` for `service`, most specific first; `None`
/// when it says nothing.
fn explicit(policy: &Policy, service: &str, rule: RuleName) -> Option<Severity> {
    policy
        .services
        .get(service)
        .and_then(|s| s.rules.get(&rule))
        .or_else(|| policy.rules.get(&rule))
        .or(policy.default.as_ref())
        .map(|s| **s)
}

/// The severity of `rule` for `service` deployed to `env`: the environment's `policy:`
/// where it says anything (its per-service rules, its rules, its default), else the
/// top-level policy, else the rule's default.
#[must_use]
pub fn severity_in(config: &Config, env: Option<&str>, service: &str, rule: RuleName) -> Severity {
    let own = env
        .and_then(|e| config.environment(e))
        .and_then(|e| e.policy.as_ref())
        .and_then(|p| explicit(p, service, rule));
    own.unwrap_or_else(|| severity(&config.policy, Some(service), rule))
}

/// The gate's report for deploying `service` to `env` (`None`: the implicit one), with
/// the same located lines `gantry policy check` prints for it.
#[must_use]
pub fn check_deploy(
    config: &Config,
    file: &str,
    root: Option<&Path>,
    service: &str,
    env: Option<&str>,
) -> Report {
    crate::config_rules::check_with(config, file, root, Some(service), &|s, rule| {
        severity_in(config, env, s, rule)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "project: t\nservices:\n  web: {{ listen: 127.0.0.1:1, releases: {{ v1: {{ run: x }} }} }}\n{extra}"
        );
        gantry_config::parse("gantry.yaml", &text).unwrap()
    }

    #[test]
    fn an_environment_policy_is_consulted_before_the_top_level_one() {
        let c = config(
            "policy: { rules: { readinessProbeMissing: danger } }\nenvironments:\n  dev: { policy: { default: warning } }\n  production: {}\n",
        );
        let r = RuleName::ReadinessProbeMissing;
        assert_eq!(severity_in(&c, Some("dev"), "web", r), Severity::Warning);
        assert_eq!(
            severity_in(&c, Some("production"), "web", r),
            Severity::Danger
        );
        assert_eq!(severity_in(&c, None, "web", r), Severity::Danger);
        assert!(check_deploy(&c, "gantry.yaml", None, "web", Some("production")).vetoed());
        let dev = check_deploy(&c, "gantry.yaml", None, "web", Some("dev"));
        assert!(!dev.vetoed() && !dev.violations.is_empty(), "{dev}");
    }
}
