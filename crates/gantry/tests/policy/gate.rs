//! `gantry check` runs the gate: one config per rule gives exactly that rule's line.

use insta::assert_snapshot;

use crate::{COMPLETE, complete_but, project_with};

/// `gantry check`'s exit code and stdout, for snapshots.
fn check(config: &str) -> String {
    let p = project_with(config);
    let run = p.gantry(&["check"]);
    let stdout = run
        .stdout()
        .replace(&p.path().display().to_string(), "[project]");
    format!("exit {}\n{stdout}", run.code())
}

const READINESS: &str = "      readiness: { http: /health, period: 1s }\n";
const LIVENESS: &str = "      liveness: { http: /health, period: 5s }\n";
const ANALYSIS: &str =
    "    analysis: { error_rate: \"< 1%\", latency_p99: \"< 500ms\", window: 30s }\n";
const ROLLBACK_STAGE: &str = "      - name: rollback\n        if: failure()\n        steps:\n          - { name: roll back, run: gantry rollback web }\n";
const RESOURCES: &str = "    resources: { cpu: 500m, memory: 256Mi }\n";
const STAGING: &str = "          - { deploy: web, env: staging }\n";
const SCAN: &str = "          - { name: scan, run: trivy fs --exit-code 1 . }\n";
/// The complete config's notification channel.
const NOTIFY: &str = "notify:\n  - slack: { webhook_env: SLACK_WEBHOOK_URL }\n";
/// Where project-wide `policy.rules` go: after the per-service runbook.
const RULES_AT: &str = "    web: { runbook: docs/runbooks/web.md }\n";
const RUNBOOK: &str = "policy:\n  services:\n    web: { runbook: docs/runbooks/web.md }\n";

#[test]
fn a_complete_config_passes() {
    let p = project_with(COMPLETE);
    let run = p.gantry(&["check"]).ok();
    assert_eq!(
        run.stdout().lines().count(),
        1,
        "only the OK line:\n{}",
        run.stdout()
    );
    let json = p.gantry(&["--json", "policy", "check"]).ok().json();
    assert_eq!(json["violations"], serde_json::json!([]));
}

#[test]
fn readiness_probe_missing() {
    assert_snapshot!(check(&complete_but(&[(READINESS, "")])));
}

#[test]
fn liveness_probe_missing() {
    assert_snapshot!(check(&complete_but(&[(LIVENESS, "")])));
}

#[test]
fn rollback_missing() {
    // Monitoring stays (a monitor target), so only the rollback plan is missing.
    let monitor = "monitor:\n  interval: 30s\n  targets:\n    web: { http: \"http://127.0.0.1:18080/health\" }\n";
    assert_snapshot!(check(&complete_but(&[
        (ANALYSIS, ""),
        (ROLLBACK_STAGE, ""),
        ("policy:\n", &format!("{monitor}policy:\n")),
    ])));
}

#[test]
fn monitoring_missing() {
    // The rollback stage stays, so only monitoring is missing.
    assert_snapshot!(check(&complete_but(&[(ANALYSIS, "")])));
}

#[test]
fn alerts_missing() {
    // Without a notification channel nobody hears of a rollback: a danger by default.
    assert_snapshot!(check(&complete_but(&[(NOTIFY, "")])));
}

#[test]
fn runbook_missing() {
    assert_snapshot!(check(&complete_but(&[(RUNBOOK, "policy:\n")])));
}

#[test]
fn runbook_linked_but_not_written() {
    assert_snapshot!(check(&complete_but(&[(
        "runbook: docs/runbooks/web.md",
        "runbook: docs/runbooks/gone.md"
    )])));
}

#[test]
fn cpu_limits_missing() {
    assert_snapshot!(check(&complete_but(&[(
        RESOURCES,
        "    resources: { memory: 256Mi }\n"
    )])));
}

#[test]
fn memory_limits_missing() {
    assert_snapshot!(check(&complete_but(&[(
        RESOURCES,
        "    resources: { cpu: 500m }\n"
    )])));
}

#[test]
fn staging_missing() {
    assert_snapshot!(check(&complete_but(&[(STAGING, "")])));
}

#[test]
fn security_scan_missing() {
    assert_snapshot!(check(&complete_but(&[(SCAN, "")])));
}

#[test]
fn replicas_too_few() {
    assert_snapshot!(check(&complete_but(&[("instances: 2", "instances: 1")])));
}

#[test]
fn version_not_pinned() {
    assert_snapshot!(check(&complete_but(&[(
        "      v2: {",
        "      latest: { run: \"demo-app --port {port}\" }\n      v2: {"
    )])));
}

#[test]
fn a_severity_raised_to_danger_vetoes() {
    let text = complete_but(&[
        ("instances: 2", "instances: 1"),
        (
            RULES_AT,
            &format!("{RULES_AT}  rules:\n    replicasTooFew: danger\n"),
        ),
    ]);
    assert_snapshot!(check(&text));
}

#[test]
fn an_ignored_rule_is_not_reported() {
    let text = complete_but(&[
        (READINESS, ""),
        (
            RULES_AT,
            &format!("{RULES_AT}  rules:\n    readinessProbeMissing: ignore\n"),
        ),
    ]);
    let p = project_with(&text);
    let run = p.gantry(&["check"]).ok();
    assert!(
        !run.stdout().contains("readinessProbeMissing"),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_service_override_beats_the_project_rule() {
    let text = complete_but(&[
        (LIVENESS, ""),
        (
            RUNBOOK,
            "policy:\n  services:\n    web:\n      runbook: docs/runbooks/web.md\n      rules: { livenessProbeMissing: warning }\n  rules:\n    livenessProbeMissing: ignore\n",
        ),
    ]);
    assert_snapshot!(check(&text));
}

#[test]
fn a_default_severity_relaxes_every_rule_not_named() {
    let text = "project: small\nservices:\n  web:\n    listen: 127.0.0.1:18081\n    releases: { v1: { run: ./web } }\npolicy:\n  default: warning\n  rules: { readinessProbeMissing: danger }\n";
    assert_snapshot!(check(text));
}

#[test]
fn an_unknown_rule_is_a_located_config_error() {
    let text = complete_but(&[(
        RULES_AT,
        &format!("{RULES_AT}  rules:\n    readinessProbeMising: warning\n"),
    )]);
    let p = project_with(&text);
    p.gantry(&["check"])
        .fails_with(2)
        .says("gantry.yaml:45:5: unknown variant")
        .says("readinessProbeMissing");
}

#[test]
fn policy_for_an_unknown_service_is_a_located_config_error() {
    let text = complete_but(&[("    web: { runbook", "    wbe: { runbook")]);
    let p = project_with(&text);
    p.gantry(&["check"])
        .fails_with(2)
        .says("gantry.yaml:43:10: policy for unknown service")
        .says("(did you mean 'web'?)");
}

#[test]
fn policy_check_json_lists_each_violation_with_its_place() {
    let p = project_with(&complete_but(&[
        (READINESS, ""),
        (LIVENESS, "      startup: { http: /health }\n"),
    ]));
    let run = p.gantry(&["--json", "policy", "check"]).fails_with(1);
    let json = run.json();
    assert_eq!(json["vetoed"], true);
    let rules: Vec<&str> = json["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["readinessProbeMissing", "livenessProbeMissing"]);
    assert_eq!(json["violations"][0]["location"]["line"], 8);
    assert_eq!(json["violations"][0]["severity"], "danger");
}
