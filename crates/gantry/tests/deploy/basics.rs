//! Token auth, the first deploy and a canary under load, `ps`, ledger entries.

use gantry_test_support::load::Load;

use crate::{Env, Opts, http_get};

#[test]
fn api_refuses_calls_without_the_token() {
    let env = Env::new(Opts::default());
    let api: std::net::SocketAddr = env.serve.url.trim_start_matches("http://").parse().unwrap();
    let (status, head) = http_get(api, "/v1/ps", None);
    assert_eq!(status, 401, "{head}");
    let (status, _) = http_get(api, "/v1/ps", Some("not-the-token"));
    assert_eq!(status, 401);
    let token = std::fs::read_to_string(env.p.path().join(".gantry/admin.token")).unwrap();
    let (status, _) = http_get(api, "/v1/ps", Some(token.trim()));
    assert_eq!(status, 200);
    // The CLI without a readable token is refused before it asks.
    std::fs::remove_file(env.p.path().join(".gantry/admin.token")).unwrap();
    env.p.gantry(&["ps"]).fails_with(2).says("admin token");
}

#[test]
fn first_deploy_and_canary_under_load_fail_no_request() {
    let env = Env::new(Opts::default());
    env.p
        .gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok()
        .says("v1 serves all traffic");
    let load = Load::start(env.addr(), 150, 4);
    crate::until_more_requests(&load, 30);
    let run = env
        .p
        .gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    let out = run.stdout();
    for text in [
        "traffic v1=80 v2=20",
        "traffic v1=50 v2=50",
        "traffic v2=100",
        "v2 promoted",
        "v2 serves all traffic",
    ] {
        assert!(out.contains(text), "missing {text:?} in:\n{out}");
    }
    crate::until_more_requests(&load, 30);
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    assert!(
        stats.served_by("v1") > 50 && stats.served_by("v2") > 50,
        "{stats:?}"
    );

    let web = env.web();
    assert_eq!(web["stable"], "v2");
    assert_eq!(web["weights"]["v2"], 100);
    let instances = web["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0]["version"], "v2");
    assert_eq!(instances[0]["ready"], true);

    let kinds = env.kinds();
    for k in [
        "control.started",
        "deployment.state.started",
        "deployment.state.progressing",
        "instance.started",
        "instance.ready",
        "traffic.shifted",
        "deployment.state.promoted",
        "instance.stopped",
        "deployment.state.succeeded",
    ] {
        assert!(kinds.iter().any(|x| x == k), "no {k} in {kinds:?}");
    }
    // Operator requests are signed by the operator, the control plane's own steps by the
    // system key; probe samples and request counts never reach the ledger.
    let entries = env.entries();
    let started = entries
        .iter()
        .find(|e| e["kind"] == "deployment.state.started")
        .unwrap();
    assert_eq!(started["actor"]["role"], "operator");
    let shifted = entries
        .iter()
        .find(|e| e["kind"] == "traffic.shifted")
        .unwrap();
    assert_eq!(shifted["actor"]["role"], "gantry");
    assert!(entries.len() < 60, "{kinds:?}");
    env.p.gantry(&["ledger", "verify"]).ok();
    let human = env.p.gantry(&["ps"]).ok().stdout();
    assert!(
        human.contains("stable: v2") && human.contains("OPERATIONAL"),
        "{human}"
    );
}

#[test]
fn bad_requests_are_refused_with_reasons() {
    let env = Env::new(Opts::default());
    env.p
        .gantry(&["deploy", "web", "--version", "v9"])
        .fails_with(2)
        .says("no release 'v9'");
    env.p
        .gantry(&["deploy", "nope", "--version", "v1"])
        .fails_with(2)
        .says("no service 'nope'");
    env.p
        .gantry(&["promote", "web"])
        .fails_with(4)
        .says("no deployment of web is running");
    env.p.gantry(&["stop"]).fails_with(2).says("--emergency");
}

#[test]
fn serve_stop_stops_instances_cleanly_and_records_it() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    let groups = gantry_test_support::serve::instance_groups(env.p.path());
    assert_eq!(groups.len(), 1);
    env.p.gantry(&["serve", "--stop"]).ok().says("stopped");
    for g in &groups {
        assert!(
            !gantry_test_support::serve::group_alive(*g),
            "group {g} still runs"
        );
    }
    let entries = env.entries();
    let last = entries.last().unwrap();
    assert_eq!(last["kind"], "control.stopped", "{last}");
    assert_eq!(last["actor"]["role"], "operator");
    assert_eq!(last["body"]["instances_stopped"], 1);
    assert!(entries.iter().any(|e| e["kind"] == "instance.stopped"));
    assert!(!env.p.path().join(".gantry/serve.json").exists());
    env.p.gantry(&["ledger", "verify"]).ok();
}
