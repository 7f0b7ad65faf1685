//! `environments:` and `promotion:`: each environment's addresses, policy and soak, and every problem at its line and column.

mod support;

use gantry_config::{Severity, split_target, target_name};
use support::{BASE, err, ok, pos_in};

const ENVS: &str = "\
environments:
  dev:
    local: { listen: { web: 127.0.0.1:18080 } }
    policy: { default: warning }
  staging:
    local: { listen: { web: 127.0.0.1:18081 } }
    soak: 2h
  production:
    policy: { rules: { replicasTooFew: danger } }
promotion: [dev, staging, production]
";

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[track_caller]
fn located(yaml: &str, line_has: &str, at: &str, text: &str) {
    let e = err(yaml);
    let want = pos_in(yaml, line_has, at);
    assert_eq!((e.line(), e.column()), (Some(want.0), Some(want.1)), "{e}");
    assert!(e.to_string().contains(text), "{e}");
}

#[test]
fn each_environment_has_its_address_policy_and_soak() {
    let cfg = ok(&with(ENVS));
    assert_eq!(
        cfg.listen_in("web", Some("dev")).unwrap().to_string(),
        "127.0.0.1:18080"
    );
    // production names no address: the service's own.
    assert_eq!(
        cfg.listen_in("web", Some("production"))
            .unwrap()
            .to_string(),
        "127.0.0.1:8080"
    );
    assert_eq!(
        cfg.listen_in("web", None).unwrap().to_string(),
        "127.0.0.1:8080"
    );
    let dev = cfg.environment("dev").unwrap();
    assert_eq!(
        dev.policy.as_ref().unwrap().default.as_deref(),
        Some(&Severity::Warning)
    );
    let staging = cfg.environment("staging").unwrap();
    assert_eq!(staging.soak.as_ref().unwrap().as_millis(), 7_200_000);
    assert_eq!(cfg.promoted_from("production"), Some("staging"));
    assert_eq!(cfg.promoted_from("dev"), None);
}

#[test]
fn a_project_without_environments_has_one_implicit_target() {
    let cfg = ok(BASE);
    assert!(cfg.environments.is_empty() && cfg.promotion.is_empty());
    assert_eq!(target_name("web", None), "web");
    assert_eq!(target_name("web", Some("staging")), "web@staging");
    assert_eq!(split_target("web@staging"), ("web", Some("staging")));
    assert_eq!(split_target("web"), ("web", None));
}

#[test]
fn a_promotion_order_naming_an_unknown_environment_is_located() {
    let yaml = with(&ENVS.replace("[dev, staging, production]", "[dev, staging, prodution]"));
    located(
        &yaml,
        "promotion: [dev, staging, prodution",
        "prodution",
        "unknown environment 'prodution' (did you mean 'production'?)",
    );
}

#[test]
fn a_bad_duration_is_located() {
    let yaml = with(&ENVS.replace("soak: 2h", "soak: 2 hours"));
    located(&yaml, "soak: 2 hours", "2 hours", "duration");
}

#[test]
fn an_address_for_an_unknown_service_or_a_taken_one_is_located() {
    let yaml = with(&ENVS.replace("{ web: 127.0.0.1:18080 }", "{ wbe: 127.0.0.1:18080 }"));
    located(
        &yaml,
        "wbe: 127.0.0.1:18080",
        "127.0.0.1:18080",
        "unknown service 'wbe'",
    );
    let yaml = with(&ENVS.replace("127.0.0.1:18081", "127.0.0.1:18080"));
    located(
        &yaml,
        "    local: { listen: { web: 127.0.0.1:18080 } }\n    soak",
        "127.0.0.1:18080",
        "already used by service 'web' in environment 'dev'",
    );
}

#[test]
fn settings_that_would_do_nothing_are_refused() {
    // Soak on the last environment: nothing follows it.
    let yaml = with(&ENVS.replace(
        "replicasTooFew: danger } }",
        "replicasTooFew: danger } }\n    soak: 1h",
    ));
    located(&yaml, "    soak: 1h", "1h", "no environment follows it");
    // Every environment on its own address: the service's `listen:` is used by none.
    let yaml = with(&ENVS.replace(
        "    policy: { rules",
        "    local: { listen: { web: 127.0.0.1:18082 } }\n    policy: { rules",
    ));
    located(
        &yaml,
        "listen: 127.0.0.1:8080",
        "127.0.0.1:8080",
        "used by no environment",
    );
    // An approval by a role no agent holds could never be signed.
    let yaml = with(&ENVS.replace(
        "    policy: { rules",
        "    approval: { role: verifer, timeout: 30m }\n    policy: { rules",
    ));
    located(
        &yaml,
        "approval: { role: verifer",
        "verifer",
        "role 'verifer', which `agents:` does not declare (did you mean 'verifier'?)",
    );
    let yaml = with(&ENVS.replace(
        "    policy: { rules",
        "    approval: { role: verifier, timeout: 0s }\n    policy: { rules",
    ));
    located(&yaml, "timeout: 0s", "0s", "longer than 0s");
}

#[test]
fn an_approval_names_its_role_and_timeout() {
    let cfg = ok(&with(&ENVS.replace(
        "    policy: { rules",
        "    approval: { role: verifier, timeout: 30m }\n    policy: { rules",
    )));
    let a = cfg
        .environment("production")
        .unwrap()
        .approval
        .as_ref()
        .unwrap();
    assert_eq!(a.role.as_str(), "verifier");
    assert_eq!(a.timeout.as_std(), std::time::Duration::from_secs(1800));
}

#[test]
fn a_deploy_step_must_name_a_declared_environment() {
    let steps = "      - name: ship\n        steps:\n          - { deploy: web, env: stagign }\n";
    let yaml = with(&format!("{steps}{ENVS}"));
    located(
        &yaml,
        "deploy: web, env: stagign",
        "stagign",
        "unknown environment 'stagign' (did you mean 'staging'?)",
    );
    let yaml = with(&format!(
        "      - name: ship\n        steps:\n          - {{ deploy: web }}\n{ENVS}"
    ));
    located(&yaml, "deploy: web }", "web", "names no environment");
}
