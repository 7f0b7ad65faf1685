//! Blue-green with a preview address, rolling with several instances, and the operator's
//! promote / pause / resume / abort.

use std::net::SocketAddr;

use gantry_test_support::demo::free_port;
use gantry_test_support::load::Load;

use crate::{Env, Opts, http_get};

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn blue_green_serves_green_on_the_preview_address_until_promoted() {
    let preview = free_port();
    let env = Env::new(Opts {
        strategy: leak(format!(
            "{{ blue_green: {{ preview_listen: 127.0.0.1:{preview}, scale_down_delay: 500ms, progress_deadline: 5s }} }}"
        )),
        ..Opts::default()
    });
    env.deploy_v1();
    let load = Load::start(env.addr(), 150, 4);
    env.p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    env.wait_for(20, "green waiting for promote", |e| {
        e.web()["deployment"]["waiting_for_promote"] == true
    });
    let (status, head) = http_get(SocketAddr::from(([127, 0, 0, 1], preview)), "/", None);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-version: v2"),
        "{head}"
    );
    let snapshot = load.snapshot();
    assert_eq!(
        snapshot.served_by("v2"),
        0,
        "no main traffic to green before promotion"
    );
    env.p.gantry(&["promote", "web"]).ok();
    env.wait_for(20, "blue-green done", |e| e.web()["deployment"].is_null());
    crate::until_more_requests(&load, 30);
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    let web = env.web();
    assert_eq!(web["stable"], "v2");
    assert!(
        web["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["version"] == "v2")
    );
    let promoted = env
        .entries()
        .into_iter()
        .find(|e| e["kind"] == "deployment.state.promoted" && e["body"]["to"] == "v2")
        .unwrap();
    assert_eq!(promoted["actor"]["role"], "operator");
}

#[test]
fn rolling_replaces_instances_a_batch_at_a_time_without_failures() {
    let env = Env::new(Opts {
        instances: 3,
        strategy: "{ rolling: { max_surge: 1, max_unavailable: 0, progress_deadline: 5s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    assert_eq!(env.web()["instances"].as_array().unwrap().len(), 3);
    let load = Load::start(env.addr(), 150, 4);
    let out = env
        .p
        .gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok()
        .stdout();
    // Weights follow instance counts; the timeline reads them as shares of traffic.
    for line in [
        "traffic v1=67 v2=33 (instances v1=2/3 v2=1/3)",
        "traffic v1=33 v2=67 (instances v1=1/3 v2=2/3)",
        "traffic v2=100 (instances v2=3/3)",
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    let shifts: Vec<_> = env
        .entries()
        .into_iter()
        .filter(|e| e["kind"] == "traffic.shifted" && e["body"]["basis"] == "instances")
        .map(|e| e["body"].clone())
        .collect();
    let first = &shifts[0];
    assert_eq!(first["weights"]["v1"], 2, "weights unchanged: {first}");
    assert_eq!(first["percent"]["v2"], 33, "{first}");
    assert_eq!(first["instances_wanted"], 3, "{first}");
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    let web = env.web();
    let instances = web["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3);
    assert!(
        instances
            .iter()
            .all(|i| i["version"] == "v2" && i["ready"] == true)
    );
}

#[test]
fn pause_resume_promote_and_abort() {
    let env = Env::new(Opts {
        strategy: "{ canary: { steps: [ {weight: 20} ], progress_deadline: 5s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    let load = Load::start(env.addr(), 100, 4);
    // A step without pause waits for `gantry promote`.
    env.p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    env.wait_for(20, "canary waiting", |e| {
        e.web()["deployment"]["waiting_for_promote"] == true
    });
    env.p
        .gantry(&["deploy", "web", "--version", "v3"])
        .fails_with(4)
        .says("is paused");
    env.p
        .gantry(&["promote", "web"])
        .ok()
        .says("promotion to the next step requested");
    env.wait_for(20, "promotion", |e| e.web()["stable"] == "v2");
    env.p.gantry(&["resume", "web"]).fails_with(4);

    // Pause, resume, then abort: traffic goes back to v2.
    env.p.gantry(&["deploy", "web", "--version", "v1"]).ok();
    env.wait_for(20, "second canary waiting", |e| {
        e.web()["deployment"]["waiting_for_promote"] == true
    });
    env.p
        .gantry(&["pause", "web"])
        .fails_with(4)
        .says("cannot pause");
    env.p.gantry(&["abort", "web"]).ok().says("abort requested");
    env.wait_for(20, "abort done", |e| e.web()["deployment"].is_null());
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    let web = env.web();
    assert_eq!(web["stable"], "v2");
    assert_eq!(web["weights"]["v2"], 100);
    assert!(
        web["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["version"] == "v2")
    );
    let kinds = env.kinds();
    assert!(kinds.contains(&"deployment.state.paused".into()));
    assert!(kinds.contains(&"deployment.state.aborted".into()));
}

#[test]
fn an_operator_pause_holds_a_timed_step_until_resume() {
    let env = Env::new(Opts {
        strategy: "{ canary: { steps: [ {weight: 20, pause: 1s} ], progress_deadline: 5s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    env.p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    env.wait_for(20, "canary at 20%", |e| e.web()["weights"]["v2"] == 20);
    env.p.gantry(&["pause", "web"]).ok().says("paused");
    // That the hold outlasts the step's own pause is proven on a paused clock
    // (crates/server/tests/semantics/pause.rs); here the real binary shows it as held.
    env.wait_for(20, "the operator's pause", |e| {
        e.web()["deployment"]["operator_paused"] == true
    });
    let web = env.web();
    assert_eq!(web["weights"]["v2"], 20, "held while paused: {web}");
    assert_eq!(web["deployment"]["phase"], "paused");
    env.p.gantry(&["resume", "web"]).ok();
    // No traffic, so no passing window: the step then waits for evidence or `promote`
    // (analysis.inconclusive defaults to pause).
    env.wait_for(20, "the wait for evidence", |e| {
        e.web()["deployment"]["waiting_for_promote"] == true
    });
    env.p.gantry(&["promote", "web"]).ok();
    env.wait_for(20, "promotion", |e| e.web()["stable"] == "v2");
}
