//! Pipelines whose `deploy:` and `smoke:` steps drive a real `gantry serve`: demo-app
//! instances on 127.0.0.1 behind gantry's router, load from this process where analysis
//! needs traffic.

mod steps;

use std::path::Path;

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A project whose service `web` (on `port`) has releases v1, v2 (good) and v3 (half its
/// answers are 500s), a short canary, and the pipelines given (YAML under `pipelines:`,
/// where `LISTEN` stands for the service's address).
pub fn project(pipelines: &str) -> (TestProject, u16) {
    let p = TestProject::init(BIN);
    let port = free_port();
    let demo = demo_app(Path::new(BIN));
    let d = demo.display();
    p.write_config(&format!(
        r#"project: test
agents:
  planner: {{ id: PlanAgent }}
  operator: {{ id: OperationsBoardAgent }}
  verifier: {{ id: ReviewAgent }}
services:
  web:
    listen: 127.0.0.1:{port}
    releases:
      v1: {{ run: "{d} --port {{port}} --version v1" }}
      v2: {{ run: "{d} --port {{port}} --version v2" }}
      v3: {{ run: "{d} --port {{port}} --version v3 --error-rate 0.5" }}
    health:
      readiness: {{ http: /health, period: 100ms, timeout: 500ms, failure_threshold: 2 }}
    strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 1500ms}} ], progress_deadline: 10s }} }}
    analysis: {{ error_rate: "< 5%", min_requests: 10, window: 1s, inconclusive: pass }} # most steps deploy without load: no waiting for evidence (cli_ux/evidence.rs tests that)
pipelines:
{}
# A test fixture, not a production service: the policy gate is tested in tests/policy.
policy: {{ default: warning }}
"#,
        pipelines.replace("LISTEN", &format!("127.0.0.1:{port}"))
    ));
    p.gantry(&["check"]).ok();
    (p, port)
}

/// The latest run's id.
pub fn last_run(p: &TestProject) -> String {
    p.entries_of("pipeline.state.started")
        .last()
        .expect("a run started")["body"]["run"]
        .as_str()
        .expect("run id")
        .to_string()
}

/// The step entries of kind `step.state.KIND` for `run`, by step name.
pub fn steps(p: &TestProject, run: &str, kind: &str) -> Vec<Value> {
    p.entries_of(&format!("step.state.{kind}"))
        .into_iter()
        .filter(|e| e["body"]["run"] == run)
        .collect()
}

/// `gantry ps --json`'s entry for `web`.
pub fn web(p: &TestProject) -> Value {
    p.gantry(&["ps", "--json"]).ok().json()["services"][0].clone()
}
