//! No promotion without evidence (issue 11, item 1): a canary step whose analysis windows
//! all lack traffic is not promoted under the default `analysis.inconclusive: pause`, moves
//! on by `gantry promote` (the ledger says it had no passing window), and rolls back under
//! `fail` — each asserted from the ledger the real control plane writes.

use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;

use crate::{BIN, project};

/// A canary with one short step judged on 1 s windows needing 20 requests; `inconclusive`
/// is the policy line (empty: the default).
fn no_traffic_project(inconclusive: &str) -> TestProject {
    let p = project();
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    p.write_config(&format!(
        "project: test\nagents:\n  planner: {{ id: PlanAgent }}\n  operator: {{ id: OperationsBoardAgent }}\n  verifier: {{ id: ReviewAgent }}\n\
services:\n  web:\n    listen: 127.0.0.1:{port}\n    releases:\n      v1: {{ run: \"{d} --port {{port}} --version v1\" }}\n      v2: {{ run: \"{d} --port {{port}} --version v2\" }}\n\
\x20   health:\n      readiness: {{ http: /health, period: 100ms, timeout: 500ms }}\n\
\x20   strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 1500ms}} ] }} }}\n\
\x20   analysis: {{ error_rate: \"< 5%\", min_requests: 20, window: 1s{inconclusive} }}\n\
policy: {{ default: warning }}\n",
        port = free_port()
    ));
    p.gantry(&["check"]).ok();
    p
}

fn entries(p: &TestProject) -> Vec<Value> {
    p.ledger_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

#[track_caller]
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// v1 stable, and the check round its deploy set off over: that round probes the service
/// through the router, and a probe still on its way when v2 takes half the traffic would
/// be a request of v2's (it once was, under a loaded machine).
fn deploy_v1(p: &TestProject) {
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    // The report is written when every probe of its round has ended.
    wait_until(30, "the check round after v1's deploy", || {
        let report = p.gantry(&["status", "--json"]);
        serde_json::from_str::<Value>(&report.stdout()).is_ok_and(|r| {
            r["trigger"]
                .as_str()
                .is_some_and(|t| t.starts_with("deployment.state.succeeded"))
        })
    });
}

fn web(p: &TestProject) -> Value {
    p.gantry(&["--json", "ps"]).ok().json()["services"][0].clone()
}

#[test]
fn a_canary_without_traffic_waits_under_the_default_and_promote_moves_it_on() {
    let p = no_traffic_project("");
    let _serve = Serve::start(&p);
    deploy_v1(&p);
    p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    wait_until(60, "the step to pause for want of traffic", || {
        let w = web(&p);
        w["deployment"]["phase"] == "paused" && w["deployment"]["waiting_for_promote"] == true
    });
    // Paused well past its 1.5 s: still not promoted, still half on v1.
    let all = entries(&p);
    let paused = of_kind(&all, "deployment.state.paused");
    let reason = paused[0]["body"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("waiting for traffic: 0 of 20 requests in the last window"),
        "{reason}"
    );
    assert!(
        of_kind(&all, "deployment.state.promoted")
            .iter()
            .all(|e| e["body"]["to"] != "v2")
    );
    assert_eq!(web(&p)["stable"], "v1");
    let text = p.gantry(&["ps"]).ok().stdout();
    assert!(
        text.contains("paused: waiting for traffic: 0 of 20 requests"),
        "{text}"
    );

    // An early promote says what it skips: the step had no passing window.
    p.gantry(&["promote", "web"])
        .ok()
        .says("none passed: it moves on without evidence");
    wait_until(60, "v2 to be stable", || {
        let w = web(&p);
        w["stable"] == "v2" && w["deployment"].is_null()
    });
    let all = entries(&p);
    let by_hand = of_kind(&all, "deployment.state.progressing")
        .into_iter()
        .find(|e| e["body"]["promote"] == "step")
        .expect("the operator's promote is recorded");
    assert_eq!(by_hand["actor"]["role"], "operator");
    assert_eq!(by_hand["body"]["without_passing_window"], true, "{by_hand}");
    assert_eq!(by_hand["body"]["windows"]["passed"], 0, "{by_hand}");
    let done = of_kind(&all, "deployment.state.succeeded");
    let last = done.last().unwrap();
    assert_eq!(last["body"]["analysis_windows"]["passed"], 0, "{last}");
    assert!(
        last["body"]["analysis_windows"]["judged"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{last}"
    );
}

#[test]
fn a_canary_without_traffic_rolls_back_under_fail() {
    let p = no_traffic_project(", inconclusive: fail");
    let _serve = Serve::start(&p);
    deploy_v1(&p);
    let out = p.gantry(&["deploy", "web", "--version", "v2", "--wait"]);
    assert_eq!(out.code(), 3, "rolled back: {}", out.stderr());
    assert!(
        out.stderr().contains("no passing analysis window"),
        "{}",
        out.stderr()
    );
    let all = entries(&p);
    let trigger = of_kind(&all, "rollback.triggered");
    assert_eq!(trigger.len(), 1);
    assert_eq!(trigger[0]["body"]["from"], "v2");
    assert_eq!(trigger[0]["body"]["passing_windows"], 0, "{}", trigger[0]);
    assert!(
        of_kind(&all, "deployment.state.promoted")
            .iter()
            .all(|e| e["body"]["to"] != "v2")
    );
    assert_eq!(web(&p)["stable"], "v1");
}

#[test]
fn a_canary_without_traffic_advances_under_pass() {
    let p = no_traffic_project(", inconclusive: pass");
    let _serve = Serve::start(&p);
    deploy_v1(&p);
    p.gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    let all = entries(&p);
    assert!(of_kind(&all, "deployment.state.paused").is_empty());
    let by = of_kind(&all, "deployment.state.promoted");
    assert_ne!(
        by.last().unwrap()["actor"]["role"],
        "operator",
        "promoted by itself"
    );
    assert_eq!(web(&p)["stable"], "v2");
}
