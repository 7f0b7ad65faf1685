//! Deploy-time guardrails through the real binary: the promotion order with its soak, the
//! environment's policy (refused with the lines `gantry policy check` prints), and its
//! override by a role holding `override_policy`, recorded in the ledger.

use gantry_test_support::serve::{Serve, gantry_exits};

use crate::environments::{eventually, project, target, version_at};

fn deploy<'a>(env: &'a str, version: &'a str) -> [&'a str; 7] {
    [
        "deploy",
        "web",
        "--env",
        env,
        "--version",
        version,
        "--wait",
    ]
}

#[test]
fn production_is_refused_until_the_version_passed_staging_and_soaked_there() {
    let (p, ports) = project("    soak: 3s", "    {}", "");
    let _serve = Serve::start(&p);
    // Straight to production: refused, naming both environments.
    p.gantry(&deploy("production", "v1"))
        .fails_with(4)
        .says("may not go to 'production'")
        .says("not succeeded in 'staging'")
        .says("gantry deploy web --env staging --version v1");
    // Staging needs dev first.
    p.gantry(&deploy("staging", "v1"))
        .fails_with(4)
        .says("not succeeded in 'dev'");
    p.gantry(&deploy("dev", "v1")).ok();
    p.gantry(&deploy("staging", "v1")).ok();
    // Stable in staging, but not for its soak yet.
    p.gantry(&deploy("production", "v1"))
        .fails_with(4)
        .says("has soaked in 'staging' for")
        .says("3s its `soak:` asks");
    // Another version than the one staging runs: refused, whatever the soak.
    p.gantry(&deploy("production", "v2"))
        .fails_with(4)
        .says("('staging' runs v1)");
    assert_eq!(version_at(ports.production), None);
    // Once the soak is over, production takes it.
    eventually(60, "production to accept v1 after the soak", || {
        p.gantry(&deploy("production", "v1")).code() == 0
    });
    assert_eq!(version_at(ports.production).as_deref(), Some("v1"));
    assert_eq!(target(&p, "web@production")["stable"], "v1");
}

/// Production's own policy makes every rule `danger`; the fixture's top-level policy only
/// warns, so dev and staging deploy it.
const STRICT: &str = "    policy: { default: danger }";

#[test]
fn a_deploy_to_an_environment_whose_policy_fails_is_refused_with_the_gate_lines() {
    let (p, ports) = project("", STRICT, "");
    let _serve = Serve::start(&p);
    p.gantry(&deploy("dev", "v1")).ok();
    p.gantry(&deploy("staging", "v1")).ok();
    let refused = p.gantry(&deploy("production", "v1")).fails_with(1);
    let said = refused.stderr();
    assert!(said.contains("refused by its policy"), "{said}");
    // The same located lines `gantry policy check` prints (there at the top-level
    // severity, `warning`; here at production's, `danger`).
    let check = p.gantry(&["policy", "check"]).ok().stdout();
    let liveness = check
        .lines()
        .find(|l| l.contains("livenessProbeMissing"))
        .unwrap_or_else(|| panic!("policy check has no liveness line:\n{check}"));
    let line = liveness.replacen(": warning ", ": danger ", 1);
    assert!(said.contains(&line), "{line:?} not in:\n{said}");
    assert!(line.starts_with("gantry.yaml:"), "{line}");
    assert_eq!(version_at(ports.production), None);
    assert!(p.entries_of("policy.overridden").is_empty());
}

#[test]
fn the_override_needs_override_policy_and_is_recorded_with_its_reason() {
    let extra = "access:\n  roles:\n    deployer: { permissions: [read, deploy] }\n    releaser: { permissions: [read, deploy, override_policy] }\n";
    let (p, ports) = project("", STRICT, extra);
    let serve = Serve::start(&p);
    p.gantry(&deploy("dev", "v1")).ok();
    p.gantry(&deploy("staging", "v1")).ok();
    let token = |role: &str| {
        p.gantry(&["--json", "token", "create", "--role", role, "--name", role])
            .ok()
            .json()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (deployer, releaser) = (token("deployer"), token("releaser"));
    let mut args = deploy("production", "v1").to_vec();
    args.extend(["--override-policy", "hotfix for INC-42"]);
    gantry_exits(&p, &args, &[("GANTRY_TOKEN", &deployer)], 120)
        .fails_with(7)
        .says("role 'deployer' may not override")
        .says("admin, releaser");
    assert!(p.entries_of("policy.overridden").is_empty());
    gantry_exits(&p, &args, &[("GANTRY_TOKEN", &releaser)], 120).ok();
    assert_eq!(version_at(ports.production).as_deref(), Some("v1"));
    let overrides = p.entries_of("policy.overridden");
    assert_eq!(overrides.len(), 1, "{overrides:?}");
    let body = &overrides[0]["body"];
    assert_eq!(body["reason"], "hotfix for INC-42");
    assert_eq!(body["service"], "web@production");
    assert_eq!(body["caller"]["role"], "releaser");
    assert!(
        body["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "livenessProbeMissing"),
        "{body}"
    );
    // The ledger, override included, verifies.
    drop(serve);
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn a_blocking_veto_refuses_deploys_to_every_environment_until_cleared() {
    let (p, ports) = project("", "    {}", "");
    let _serve = Serve::start(&p);
    p.gantry(&[
        "veto",
        "web",
        "--as",
        "verifier",
        "--violation",
        "runbookMissing",
    ])
    .ok();
    p.gantry(&deploy("dev", "v1"))
        .fails_with(4)
        .says("blocking veto");
    assert_eq!(version_at(ports.dev), None);
    p.gantry(&[
        "approve",
        "web",
        "--as",
        "verifier",
        "--summary",
        "runbook added",
    ])
    .ok();
    p.gantry(&deploy("dev", "v1")).ok();
    assert_eq!(version_at(ports.dev).as_deref(), Some("v1"));
}

/// A pipeline that deploys web to production with no staging stage: only `promotion:`
/// puts staging before it.
const PROD_ONLY: &str = r#"pipelines:
  release:
    stages:
      - name: ship
        steps:
          - { name: scan, run: trivy fs . }
          - { deploy: web, env: production }
"#;

#[test]
fn issue14_promotion_through_staging_is_a_staging_stage_for_the_gate_and_the_plan() {
    let (p, _ports) = project(
        "    soak: 2h",
        "    approval: { role: verifier, timeout: 30m }",
        PROD_ONLY,
    );
    let check = p.gantry(&["policy", "check"]).stdout();
    assert!(!check.contains("stagingMissing"), "{check}");
    let plan = p.gantry(&["plan", "--env", "production"]).ok().json();
    let stages = plan["deployment_strategy"]["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(names, ["dev", "staging", "ship"], "{plan:#}");
    assert_eq!(stages[1]["soak_time_hours"], 2.0);
    assert_eq!(stages[2]["approval_required"], true, "{plan:#}");
    // The plan another agent gets passes the staging rule too.
    let text = serde_json::to_string(&plan).unwrap();
    let gate = p.gantry_stdin(&["policy", "check", "--plan", "-"], &text);
    assert!(
        !gate.stdout().contains("stagingMissing"),
        "{}",
        gate.stdout()
    );
    // A plan for staging (no pipeline deploys there) comes from the promotion order.
    let plan = p.gantry(&["plan", "--env", "staging"]).ok().json();
    let names: Vec<String> = plan["deployment_strategy"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["stage"].as_str().map(str::to_string))
        .collect();
    assert_eq!(names, ["dev", "staging"], "{plan:#}");

    // Without staging in `promotion:`, the same pipeline is staging missing.
    let yaml = std::fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    let yaml = yaml.replace(
        "promotion: [dev, staging, production]",
        "promotion: [dev, production]",
    );
    let yaml = yaml.replace("    soak: 2h\n", "");
    std::fs::write(p.path().join("gantry.yaml"), yaml).unwrap();
    p.gantry(&["policy", "check"])
        .says("stagingMissing")
        .says("no staging deploy before it");
}
