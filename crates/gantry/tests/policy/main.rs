//! The policy gate through the real binary: `gantry check` and `gantry policy check` on
//! configs (one per rule), on plans, and the decision log they feed.

mod approval;
mod decisions;
mod environments;
mod gate;
mod plan;
mod promotion;
mod tools;

use gantry_test_support::TestProject;

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A production-ready config: every rule passes.
pub const COMPLETE: &str = r#"project: shop
agents:
  planner: { id: PlanAgent }
  operator: { id: OperationsBoardAgent }
  verifier: { id: ReviewAgent }
services:
  web:
    listen: 127.0.0.1:18080
    instances: 2
    releases:
      v1: { run: "demo-app --port {port} --version v1" }
      v2: { run: "demo-app --port {port} --version v2" }
    health:
      readiness: { http: /health, period: 1s }
      liveness: { http: /health, period: 5s }
    strategy: { canary: { steps: [ { weight: 10, pause: 30s }, { weight: 50, pause: 30s } ] } }
    analysis: { error_rate: "< 1%", latency_p99: "< 500ms", window: 30s }
    resources: { cpu: 500m, memory: 256Mi }
pipelines:
  release:
    stages:
      - name: ci
        steps:
          - { name: test, run: cargo test }
          - { name: scan, run: trivy fs --exit-code 1 . }
      - name: staging
        steps:
          - { deploy: web, env: staging }
          - { smoke: "GET /health == 200" }
        checkpoint: { role: verifier }
      - name: production
        steps:
          - { deploy: web, env: production }
        checkpoint: { role: operator }
      - name: rollback
        if: failure()
        steps:
          - { name: roll back, run: gantry rollback web }
notify:
  - slack: { webhook_env: SLACK_WEBHOOK_URL }
policy:
  services:
    web: { runbook: docs/runbooks/web.md }
"#;

/// An initialised project whose gantry.yaml is `config` and whose runbook exists.
pub fn project_with(config: &str) -> TestProject {
    let p = TestProject::init(BIN);
    std::fs::create_dir_all(p.path().join("docs/runbooks")).unwrap();
    std::fs::write(p.path().join("docs/runbooks/web.md"), "# web\n").unwrap();
    std::fs::write(p.path().join("gantry.yaml"), config).unwrap();
    p
}

/// `COMPLETE` with each `(from, to)` replaced; panics if `from` is not there, so a fixture
/// cannot silently stop removing what it names.
pub fn complete_but(edits: &[(&str, &str)]) -> String {
    let mut text = COMPLETE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "fixture edit not found: {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}
