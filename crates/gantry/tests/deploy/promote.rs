//! `promote` (one step, analysis still applies) and `promote --full`, and blue-green
//! analysis of green's preview traffic before it takes any production traffic.

use std::net::SocketAddr;

use gantry_test_support::demo::free_port;
use gantry_test_support::load::Load;
use serde_json::Value;

use crate::{Env, Opts};

fn entry<'a>(entries: &'a [Value], kind: &str, f: impl Fn(&Value) -> bool) -> Option<&'a Value> {
    entries.iter().find(|e| e["kind"] == kind && f(e))
}

#[test]
fn promote_ends_one_pause_full_skips_the_rest_and_analysis_still_applies() {
    let env = Env::new(Opts {
        strategy: "{ canary: { steps: [ {weight: 20}, {weight: 50} ], progress_deadline: 5s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    let load = Load::start(env.addr(), 100, 4);
    env.p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    env.wait_for(20, "v2 waiting at 20%", |e| {
        e.web()["weights"]["v2"] == 20 && e.web()["deployment"]["waiting_for_promote"] == true
    });
    env.p
        .gantry(&["promote", "web"])
        .ok()
        .says("promotion to the next step");
    env.wait_for(20, "v2 waiting at 50%", |e| {
        e.web()["weights"]["v2"] == 50 && e.web()["deployment"]["waiting_for_promote"] == true
    });
    env.p
        .gantry(&["promote", "web", "--full"])
        .ok()
        .says("full promotion");
    env.wait_for(20, "v2 stable", |e| {
        e.web()["stable"] == "v2" && e.web()["deployment"].is_null()
    });
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    let entries = env.entries();
    let step = entry(&entries, "deployment.state.progressing", |e| {
        e["body"]["promote"] == "step"
    })
    .expect("a step promotion entry");
    assert_eq!(step["actor"]["role"], "operator");
    let promoted = entry(&entries, "deployment.state.promoted", |e| {
        e["body"]["to"] == "v2"
    })
    .expect("promoted");
    assert_eq!(promoted["body"]["promote"], "full");
    assert_eq!(promoted["actor"]["role"], "operator");

    // A promote moves on one step; the next pause is still judged. No traffic while at
    // 20% (inconclusive), then load at 50%: v3's errors roll it back.
    env.p.gantry(&["deploy", "web", "--version", "v3"]).ok();
    env.wait_for(20, "v3 waiting at 20%", |e| {
        e.web()["weights"]["v3"] == 20 && e.web()["deployment"]["waiting_for_promote"] == true
    });
    env.p.gantry(&["promote", "web"]).ok();
    env.wait_for(20, "v3 at 50%", |e| e.web()["weights"]["v3"] == 50);
    let load = Load::start(env.addr(), 100, 4);
    env.wait_for(30, "v3 rolled back", |e| {
        e.web()["deployment"].is_null() && e.web()["weights"]["v2"] == 100
    });
    let stats = load.stop();
    assert_eq!(stats.failures(&["v3"]), 0, "{stats:?}");
    let entries = env.entries();
    let trigger = entry(&entries, "rollback.triggered", |e| {
        e["body"]["from"] == "v3"
    })
    .expect("rollback.triggered");
    assert!(
        trigger["body"]["error_rate"].as_f64().unwrap() > 0.05,
        "{trigger}"
    );
    assert_eq!(env.web()["stable"], "v2");
}

#[test]
fn blue_green_judges_green_on_the_preview_and_never_switches_to_a_failing_one() {
    let preview = free_port();
    let env = Env::new(Opts {
        strategy: Box::leak(
            format!(
                "{{ blue_green: {{ preview_listen: 127.0.0.1:{preview}, auto_promote: true, scale_down_delay: 0s, progress_deadline: 5s }} }}"
            )
            .into_boxed_str(),
        ),
        ..Opts::default()
    });
    env.deploy_v1();
    let main = Load::start(env.addr(), 100, 4);
    let on_preview = Load::start(SocketAddr::from(([127, 0, 0, 1], preview)), 60, 2);
    env.p
        .gantry(&["deploy", "web", "--version", "v3", "--wait"])
        .fails_with(3)
        .says("analysis of the preview traffic failed")
        .says("error rate");
    crate::until_more_requests(&main, 30);
    let snapshot = main.snapshot();
    assert_eq!(
        snapshot.served_by("v3"),
        0,
        "green never took production traffic: {snapshot:?}"
    );
    assert_eq!(snapshot.failures(&[]), 0, "{snapshot:?}");
    assert!(
        on_preview.snapshot().served_by("v3") > 0,
        "green was judged on its preview traffic"
    );
    let web = env.web();
    assert_eq!(web["stable"], "v1");
    assert!(
        web["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["version"] == "v1")
    );

    // A good green passes its preview analysis and is promoted automatically.
    env.p
        .gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok()
        .says("v2 serves all traffic");
    crate::until_more_requests(&main, 30);
    let stats = main.stop();
    drop(on_preview);
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    assert_eq!(stats.served_by("v3"), 0, "{stats:?}");
    assert!(stats.served_by("v2") > 0, "{stats:?}");
    let entries = env.entries();
    let trigger = entry(&entries, "rollback.triggered", |e| {
        e["body"]["from"] == "v3"
    })
    .expect("rollback.triggered");
    assert_eq!(trigger["body"]["on"], "preview");
    let promoted = entry(&entries, "deployment.state.promoted", |e| {
        e["body"]["to"] == "v2"
    })
    .expect("promoted");
    assert_eq!(promoted["body"]["promote"], "auto");
    assert_eq!(promoted["actor"]["role"], "gantry");
}
