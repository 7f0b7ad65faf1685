//! Automatic rollback (error rate, latency, readiness deadline) and manual rollback.

use gantry_test_support::load::Load;

use crate::{Env, Opts};

#[test]
fn a_version_with_errors_is_rolled_back_automatically() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    let load = Load::start(env.addr(), 150, 4);
    crate::until_more_requests(&load, 30);
    let run = env
        .p
        .gantry(&["deploy", "web", "--version", "v3", "--wait"])
        .fails_with(3)
        .says("rolled back")
        .says("error rate");
    let out = run.stdout();
    assert!(out.contains("rollback to v1 triggered"), "{out}");
    assert!(!out.contains("traffic v3=100"), "{out}");
    crate::until_more_requests(&load, 50);
    let stats = load.stop();
    assert_eq!(stats.failures(&["v3"]), 0, "{stats:?}");
    assert!(
        stats.served_by("v3") > 0,
        "the canary got traffic: {stats:?}"
    );

    let web = env.web();
    assert_eq!(web["stable"], "v1");
    assert_eq!(web["weights"].as_object().unwrap().len(), 1);
    assert_eq!(web["weights"]["v1"], 100);
    assert!(
        web["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["version"] == "v1")
    );

    let entries = env.entries();
    let trigger = entries
        .iter()
        .find(|e| e["kind"] == "rollback.triggered")
        .expect("rollback.triggered");
    let body = &trigger["body"];
    assert_eq!(body["to"], "v1");
    assert!(body["error_rate"].as_f64().unwrap() > 0.05, "{body}");
    assert!(body["requests"].as_u64().unwrap() >= 10, "{body}");
    assert!(body["window_ms"].as_u64().unwrap() >= 1000, "{body}");
    let kinds = env.kinds();
    assert!(kinds.contains(&"deployment.state.failed".to_string()));
    let pos = |k: &str| kinds.iter().position(|x| x == k);
    assert!(
        pos("rollback.triggered") < pos("deployment.state.rolled_back"),
        "{kinds:?}"
    );
    // The way out waits for no disk: traffic returned to v1 first, then `failed`, the
    // trigger and the shift were written together, in that order, as consecutive entries.
    let at = pos("deployment.state.failed").unwrap();
    assert_eq!(
        kinds[at..at + 3],
        [
            "deployment.state.failed",
            "rollback.triggered",
            "traffic.shifted"
        ],
        "{kinds:?}"
    );
    assert_eq!(
        entries[at + 2]["body"]["weights"],
        serde_json::json!({"v1": 100})
    );
}

#[test]
fn a_slow_version_is_rolled_back_on_latency() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    // Slow answers hold a connection each; enough connections keep the slow version's
    // window above min_requests. The limit (450ms) sits well above what a busy CI machine
    // adds to a good version's p99 and well below the slow version's 700ms.
    let load = Load::start(env.addr(), 150, 16);
    crate::until_more_requests(&load, 30);
    env.p
        .gantry(&["deploy", "web", "--version", "slow", "--wait"])
        .fails_with(3)
        .says("p99 latency");
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    assert_eq!(env.web()["stable"], "v1");
    let trigger = env
        .entries()
        .into_iter()
        .find(|e| e["kind"] == "rollback.triggered")
        .expect("rollback.triggered");
    assert!(
        trigger["body"]["p99_ms"].as_f64().unwrap() >= 450.0,
        "{trigger}"
    );
}

#[test]
fn a_never_ready_version_gets_no_traffic_and_is_rolled_back_at_the_deadline() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    let load = Load::start(env.addr(), 100, 4);
    env.p
        .gantry(&["deploy", "web", "--version", "never", "--wait"])
        .fails_with(3)
        .says("progress deadline");
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    assert_eq!(stats.served_by("never"), 0, "{stats:?}");
    let web = env.web();
    assert_eq!(web["stable"], "v1");
    assert!(
        web["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["version"] == "v1")
    );
}

#[test]
fn rollback_dry_run_changes_nothing_then_rollback_returns_to_the_previous_version() {
    let env = Env::new(Opts {
        strategy: "{ blue_green: { auto_promote: true, scale_down_delay: 0s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    env.p
        .gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    let before_ledger = env.p.ledger_lines();
    let before = env.web();
    let run = env.p.gantry(&["rollback", "web", "--dry-run"]).ok();
    let out = run.stdout();
    assert!(
        out.contains("v2 → v1") && out.contains("nothing changed"),
        "{out}"
    );
    assert!(out.contains("1. start 1 instance(s) of v1"), "{out}");
    assert!(out.contains("drain and stop every instance of v2"), "{out}");
    let plan = env
        .p
        .gantry(&["rollback", "web", "--dry-run", "--json"])
        .ok()
        .json();
    assert_eq!(plan["plan"]["to"], "v1");
    assert_eq!(
        env.p.ledger_lines(),
        before_ledger,
        "a dry run writes nothing"
    );
    let after = env.web();
    assert_eq!(after["instances"], before["instances"]);
    assert_eq!(after["weights"], before["weights"]);

    let load = Load::start(env.addr(), 150, 4);
    crate::until_more_requests(&load, 30);
    env.p
        .gantry(&["rollback", "web"])
        .ok()
        .says("rolled back to v1");
    crate::until_more_requests(&load, 30);
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    assert!(stats.served_by("v1") > 0 && stats.served_by("v2") > 0);
    let web = env.web();
    assert_eq!(web["stable"], "v1");
    assert_eq!(web["weights"]["v1"], 100);
    let kinds = env.kinds();
    assert!(kinds.contains(&"rollback.planned".to_string()), "{kinds:?}");
    // --to names the version; the one running is refused.
    env.p
        .gantry(&["rollback", "web", "--to", "v1"])
        .fails_with(4)
        .says("already runs v1");
    env.p.gantry(&["ledger", "verify"]).ok();
}
