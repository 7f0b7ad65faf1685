//! `gantry plan` and `gantry policy check --plan`: the plan in the shape agents exchange,
//! its published schema (checked by check-jsonschema, a validator nobody here wrote), and
//! the gate over a plan another agent wrote.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use insta::assert_snapshot;

use crate::{COMPLETE, project_with};

/// A plan as another agent would write it, complete but for its health checks.
pub const HAND_WRITTEN_WITHOUT_HEALTH_CHECKS: &str = r#"{
  "epic_id": "EPIC-42",
  "iteration": 3,
  "timestamp": "2026-12-01T10:00:00Z",
  "service": "web",
  "version": "v2",
  "runbook": "https://wiki.example.invalid/runbooks/web",
  "deployment_strategy": {
    "type": "canary",
    "reason": "payment path: shift traffic slowly",
    "stages": [
      { "stage": "staging", "automatic": true, "tests": ["integration", "trivy image scan"], "rollback_automatic": true, "soak_time_hours": 2 },
      { "stage": "production_canary", "automatic": false, "approval_required": true, "canary_percentage": 5, "canary_duration_hours": 24, "rollback_automatic": true },
      { "stage": "production_full", "automatic": false, "approval_required": true, "rollback_automatic": true }
    ]
  },
  "infrastructure": { "resources_required": { "cpu": "500m", "memory": "512Mi", "replicas": 3 }, "scaling": { "min": 3, "max": 10 } },
  "monitoring": { "metrics": ["error_rate", "latency_p99"], "dashboards": ["grafana/web"], "alerts": ["pagerduty: error_rate > 1%"] },
  "rollback": { "triggers": ["error_rate > 1% for 5m"], "procedure": "gantry rollback web", "time_to_rollback_seconds": 60 }
}
"#;

const SETUP: &str =
    "python3 -m venv .venv && .venv/bin/pip install check-jsonschema (or ./scripts/test.sh)";

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/plan.schema.json")
}

/// check-jsonschema from the workspace's .venv, or `None` (after saying why) outside CI.
fn check_jsonschema() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/check-jsonschema");
    let works = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(bin);
    }
    let why = format!(
        "{} is not installed; at the workspace root: {SETUP}",
        bin.display()
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI is set and {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED (not CI): {why}");
    None
}

/// check-jsonschema's verdict on `file` against the published schema.
fn validates(bin: &Path, file: &Path) -> (bool, String) {
    let out = Command::new(bin)
        .arg("--schemafile")
        .arg(schema())
        .arg(file)
        .output()
        .expect("run check-jsonschema");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn gantry_plan_round_trips_through_the_gate() {
    let p = project_with(COMPLETE);
    let plan = p.gantry(&["plan"]).ok().stdout();
    let json: serde_json::Value = serde_json::from_str(&plan).unwrap();
    for field in [
        "epic_id",
        "iteration",
        "timestamp",
        "deployment_strategy",
        "infrastructure",
        "monitoring",
        "health_checks",
        "rollback",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from:\n{plan}");
    }
    let stages: Vec<&str> = json["deployment_strategy"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "ci",
            "staging",
            "production-canary-10",
            "production-canary-50",
            "production"
        ]
    );
    assert_eq!(
        json["deployment_strategy"]["stages"][2]["approval_required"],
        true
    );
    p.gantry_stdin(&["policy", "check", "--plan", "-"], &plan)
        .ok()
        .says("<stdin>: passes the policy gate (0 warning(s))");
}

#[test]
fn a_plan_for_staging_ends_there_and_needs_no_staging_before_it() {
    let p = project_with(COMPLETE);
    let plan = p.gantry(&["plan", "--env", "staging"]).ok().json();
    let stages = plan["deployment_strategy"]["stages"].as_array().unwrap();
    assert_eq!(stages.last().unwrap()["stage"], "staging");
    p.gantry(&["plan", "--env", "dev"])
        .fails_with(2)
        .says("no pipeline deploys service 'web' to 'dev'");
}

#[test]
fn a_plan_from_an_unready_config_is_vetoed_like_the_config() {
    let text = COMPLETE.replace("      readiness: { http: /health, period: 1s }\n", "");
    let p = project_with(&text);
    let plan = p.gantry(&["plan"]).ok().stdout();
    let run = p
        .gantry_stdin(&["policy", "check", "--plan", "-"], &plan)
        .fails_with(1);
    assert_snapshot!(run.stdout());
}

#[test]
fn a_hand_written_plan_missing_its_health_checks_is_vetoed() {
    let p = project_with(COMPLETE);
    std::fs::write(
        p.path().join("plan.json"),
        HAND_WRITTEN_WITHOUT_HEALTH_CHECKS,
    )
    .unwrap();
    let run = p
        .gantry(&["policy", "check", "--plan", "plan.json"])
        .fails_with(1);
    assert_snapshot!(run.stdout());
    assert!(
        run.stderr()
            .contains("the plan plan.json is vetoed by 2 danger"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_plan_is_gated_outside_a_project_by_the_default_severities() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(&file, HAND_WRITTEN_WITHOUT_HEALTH_CHECKS).unwrap();
    let out = Command::new(crate::BIN)
        .arg("-C")
        .arg(dir.path())
        .args(["--json", "policy", "check", "--plan"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["violations"][0]["location"]["pointer"],
        "/health_checks/readiness"
    );
}

#[test]
fn a_plan_that_is_not_a_plan_is_a_located_error() {
    let p = project_with(COMPLETE);
    let bad =
        "{\n  \"deployment_strategy\": { \"stages\": [ { \"stage\": \"x\", \"tests\": 5 } ] }\n}\n";
    p.gantry_stdin(&["policy", "check", "--plan", "-"], bad)
        .fails_with(2)
        .says("<stdin>:2:")
        .says("not a deployment plan: invalid type: integer `5`, expected a sequence");
}

#[test]
fn the_published_schema_accepts_gantry_plans_and_hand_written_ones() {
    let Some(bin) = check_jsonschema() else {
        return;
    };
    let p = project_with(COMPLETE);
    let plan = p.gantry(&["plan"]).ok().stdout();
    let generated = p.path().join("generated.json");
    std::fs::write(&generated, plan).unwrap();
    let (ok, text) = validates(&bin, &generated);
    assert!(ok, "gantry plan does not validate:\n{text}");
    let hand = p.path().join("hand.json");
    std::fs::write(&hand, HAND_WRITTEN_WITHOUT_HEALTH_CHECKS).unwrap();
    let (ok, text) = validates(&bin, &hand);
    assert!(ok, "the hand-written plan does not validate:\n{text}");
    // The schema says something: a wrong type is refused.
    let wrong = p.path().join("wrong.json");
    std::fs::write(
        &wrong,
        r#"{"infrastructure": {"resources_required": {"replicas": "three"}}}"#,
    )
    .unwrap();
    let (ok, text) = validates(&bin, &wrong);
    assert!(!ok, "a string replica count validated:\n{text}");
}
