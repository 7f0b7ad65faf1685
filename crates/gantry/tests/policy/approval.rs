//! Environments with `approval: { role, timeout }` through the real binary, `gantry serve`
//! and the demo app: a deploy waits in `awaiting_approval` (nothing started) until the
//! named role signs `gantry approve --as ROLE`, fails when the timeout passes first, and
//! the wait survives a control-plane restart and ends on `abort`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::serve::Serve;
use serde_json::Value;

use crate::environments::{Ports, eventually, project, target, version_at};

/// dev → staging → production, production waiting `timeout` for the verifier.
fn approved_project(timeout: &str) -> (TestProject, Ports) {
    project(
        "",
        &format!("    approval: {{ role: verifier, timeout: {timeout} }}"),
        "",
    )
}

fn deploy<'a>(env: &'a str, version: &'a str) -> Vec<&'a str> {
    vec!["deploy", "web", "--env", env, "--version", version]
}

fn deploy_wait<'a>(env: &'a str, version: &'a str) -> Vec<&'a str> {
    let mut args = deploy(env, version);
    args.push("--wait");
    args
}

/// v1 stable in dev and staging: what production may take.
fn staged(p: &TestProject, version: &str) {
    p.gantry(&deploy_wait("dev", version)).ok();
    p.gantry(&deploy_wait("staging", version)).ok();
}

fn production(p: &TestProject) -> Value {
    target(p, "web@production")
}

/// No instance of web@production was ever started.
fn nothing_started_in_production(p: &TestProject) {
    let started: Vec<Value> = p
        .entries_of("instance.started")
        .into_iter()
        .filter(|e| e["body"]["service"] == "web@production")
        .collect();
    assert!(started.is_empty(), "{started:?}");
}

#[test]
fn issue14_production_refused_without_staging_waits_for_approval_proceeds_after_it_and_a_veto_blocks()
 {
    let (p, ports) = approved_project("10m");
    let _serve = Serve::start(&p);
    // Refused without staging.
    p.gantry(&deploy("production", "v1"))
        .fails_with(4)
        .says("not succeeded in 'staging'");
    staged(&p, "v1");

    // Waits for approval: nothing starts.
    p.gantry(&deploy("production", "v1"))
        .ok()
        .says("awaiting approval by verifier (expires in 9m")
        .says("gantry approve web --env production --as verifier");
    let d = production(&p)["deployment"].clone();
    assert_eq!(d["phase"], "awaiting_approval", "{d:#}");
    assert_eq!(d["approval"]["role"], "verifier");
    p.gantry(&["ps", "--env", "production"])
        .ok()
        .says("awaiting approval by verifier (expires in");
    let requested = p.entries_of("approval.requested");
    assert_eq!(requested.len(), 1, "{requested:?}");
    let body = &requested[0]["body"];
    assert_eq!(
        (
            &body["service"],
            &body["env"],
            &body["version"],
            &body["role"]
        ),
        (
            &"web@production".into(),
            &"production".into(),
            &"v1".into(),
            &"verifier".into()
        )
    );
    assert!(body["deadline"].as_str().unwrap().ends_with('Z'), "{body}");
    assert_eq!(version_at(ports.production), None);
    // Another deploy to production meanwhile is refused: one at a time.
    p.gantry(&deploy("production", "v1"))
        .fails_with(4)
        .says("awaiting approval");

    // By another role: refused, naming the role needed; nothing is written.
    p.gantry(&["approve", "web", "--env", "production", "--as", "operator"])
        .fails_with(7)
        .says("awaits approval by role 'verifier', not 'operator'");
    assert!(p.entries_of("approval.granted").is_empty());
    nothing_started_in_production(&p);

    // By the verifier: it proceeds.
    p.gantry(&[
        "approve",
        "web",
        "--env",
        "production",
        "--as",
        "verifier",
        "--summary",
        "staging looked good",
    ])
    .ok()
    .says("approved deployment");
    eventually(60, "production serving v1 after the approval", || {
        version_at(ports.production).as_deref() == Some("v1")
    });
    eventually(60, "web@production stable on v1", || {
        production(&p)["stable"] == "v1"
    });
    let granted = p.entries_of("approval.granted");
    assert_eq!(granted.len(), 1);
    assert_eq!(granted[0]["actor"]["role"], "verifier");
    let started: Vec<Value> = p
        .entries_of("deployment.state.started")
        .into_iter()
        .filter(|e| e["body"]["service"] == "web@production")
        .collect();
    assert_eq!(started.len(), 1);
    assert!(started[0]["seq"].as_u64() > granted[0]["seq"].as_u64());
    assert_eq!(started[0]["body"]["id"], requested[0]["body"]["id"]);

    // A blocking veto refuses it until cleared.
    staged(&p, "v2");
    p.gantry(&[
        "veto",
        "web",
        "--as",
        "verifier",
        "--violation",
        "securityScanMissing",
    ])
    .ok();
    p.gantry(&deploy("production", "v2"))
        .fails_with(4)
        .says("blocking veto");
    assert_eq!(p.entries_of("approval.requested").len(), 1);
    // Nothing awaits approval, so `approve` clears the veto.
    p.gantry(&["approve", "web", "--as", "verifier", "--summary", "scanned"])
        .ok()
        .says("cleared 1 blocking veto");
    // `deploy --wait` follows the wait and the rollout after the approval.
    let mut waiting = p
        .command(&deploy_wait("production", "v2"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(30, "v2 awaiting approval", || {
        production(&p)["deployment"]["phase"] == "awaiting_approval"
    });
    p.gantry(&["approve", "web@production", "--as", "verifier"])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(120);
    while waiting.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "deploy --wait did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = waiting.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("awaiting approval by verifier (expires in"),
        "{text}"
    );
    assert!(text.contains("approved by verifier"), "{text}");
    assert_eq!(version_at(ports.production).as_deref(), Some("v2"));
    drop(_serve);
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn issue14_an_abort_ends_the_wait_and_a_timeout_fails_it_with_nothing_started() {
    let (p, ports) = approved_project("3s");
    let _serve = Serve::start(&p);
    staged(&p, "v1");
    // Abort while waiting: over at once, nothing started, nothing left to approve.
    p.gantry(&deploy("production", "v1")).ok();
    // Only an abort applies to a deploy that waits.
    for op in ["pause", "promote"] {
        p.gantry(&[op, "web@production"])
            .fails_with(4)
            .says("awaiting approval");
    }
    p.gantry(&["abort", "web@production"]).ok().says("aborted");
    let aborted = p.entries_of("deployment.state.aborted");
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert!(production(&p)["deployment"].is_null());
    p.gantry(&["approve", "web", "--env", "production", "--as", "verifier"])
        .fails_with(4)
        .says("no deploy of service 'web' to 'production' awaits approval");
    assert!(p.entries_of("approval.granted").is_empty());

    // No approval within the timeout: failed (exit 3), nothing started.
    let run = p.gantry(&deploy_wait("production", "v1")).fails_with(3);
    let said = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        said.contains("awaiting approval by verifier (expires in"),
        "{said}"
    );
    assert!(said.contains("no approval by verifier within 3s"), "{said}");
    assert!(said.contains("nothing was started"), "{said}");
    let expired = p.entries_of("approval.expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["body"]["role"], "verifier");
    let failed = p.entries_of("deployment.state.failed");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["seq"].as_u64() > expired[0]["seq"].as_u64());
    nothing_started_in_production(&p);
    assert_eq!(version_at(ports.production), None);
    assert!(production(&p)["stable"].is_null());
    // An approval after the deadline is refused.
    p.gantry(&["approve", "web", "--env", "production", "--as", "verifier"])
        .fails_with(4);
    // History has both, over.
    let h = p
        .gantry(&["--json", "history", "web@production"])
        .ok()
        .json();
    let outcomes: Vec<&str> = h["revisions"]
        .as_array()
        .or(h.as_array())
        .into_iter()
        .flatten()
        .filter_map(|r| r["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["aborted", "failed"], "{h:#}");
}

#[test]
fn issue14_the_wait_survives_a_restart_and_the_approval_after_it_proceeds() {
    let (p, ports) = approved_project("10m");
    let mut serve = Serve::start(&p);
    staged(&p, "v1");
    p.gantry(&deploy("production", "v1")).ok();
    let id = production(&p)["deployment"]["id"].clone();
    serve.kill9();
    serve.restart(&p);
    eventually(
        60,
        "the restarted control plane awaiting the approval again",
        || {
            let d = production(&p)["deployment"].clone();
            d["phase"] == "awaiting_approval" && d["id"] == id
        },
    );
    p.gantry(&["ps"])
        .ok()
        .says("awaiting approval by verifier (expires in 9m");
    nothing_started_in_production(&p);
    p.gantry(&["approve", "web", "--env", "production", "--as", "verifier"])
        .ok();
    eventually(60, "production serving v1 after the approval", || {
        version_at(ports.production).as_deref() == Some("v1")
    });
    let started: Vec<Value> = p
        .entries_of("deployment.state.started")
        .into_iter()
        .filter(|e| e["body"]["service"] == "web@production")
        .collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["body"]["id"], id);
}

#[test]
fn issue14_a_pipeline_deploy_step_to_production_waits_for_the_approval() {
    let extra = r#"pipelines:
  release:
    stages:
      - name: ship
        steps:
          - { deploy: web, version: v1, env: dev }
          - { deploy: web, version: v1, env: staging }
          - { deploy: web, version: v1, env: production }
"#;
    let (p, ports) = project("", "    approval: { role: verifier, timeout: 10m }", extra);
    let _serve = Serve::start(&p);
    let mut run = p
        .command(&["run", "release"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(
        120,
        "the pipeline's production deploy awaiting approval",
        || production(&p)["deployment"]["phase"] == "awaiting_approval",
    );
    // The steps before it really went to dev and staging.
    assert_eq!(target(&p, "web@staging")["stable"], "v1");
    assert_eq!(version_at(ports.staging).as_deref(), Some("v1"));
    assert!(run.try_wait().unwrap().is_none(), "the run did not wait");
    nothing_started_in_production(&p);
    p.gantry(&["approve", "web", "--env", "production", "--as", "verifier"])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(120);
    while run.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(version_at(ports.production).as_deref(), Some("v1"));
}
