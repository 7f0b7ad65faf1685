//! Emergency stop and start, liveness restarts and crash loops, and recovery after
//! SIGKILL of the control plane.

use gantry_test_support::load::Load;
use gantry_test_support::serve::{group_alive, instance_groups};

use crate::{Env, Opts, http_get};

#[test]
fn emergency_stop_refuses_traffic_and_start_recovers() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    let load = Load::start(env.addr(), 100, 4);
    crate::until_more_requests(&load, 30);
    env.p
        .gantry(&["stop", "--emergency"])
        .ok()
        .says("EMERGENCY STOP");
    let (status, head) = http_get(env.addr(), "/", None);
    assert_eq!(status, 503, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
    let ps = env.ps();
    assert_eq!(ps["status"], "CRITICAL");
    assert_eq!(ps["services"][0]["instances"].as_array().unwrap().len(), 0);
    env.p
        .gantry(&["deploy", "web", "--version", "v2"])
        .fails_with(4)
        .says("emergency stop");
    for pgid in instance_groups(env.p.path()) {
        assert!(!group_alive(pgid), "instance group {pgid} still running");
    }
    env.p.gantry(&["start"]).ok().says("web v1");
    crate::until_more_requests(&load, 30);
    let stats = load.stop();
    // The only 5xx are the router's deliberate 503s during the stop; nothing unanswered.
    assert_eq!(stats.no_answer, 0, "{stats:?}");
    assert_eq!(stats.failures(&["-"]), 0, "{stats:?}");
    assert!(stats.with_status(503) > 0, "{stats:?}");
    let (status, _) = http_get(env.addr(), "/", None);
    assert_eq!(status, 200);
    assert_eq!(env.ps()["status"], "OPERATIONAL");
    let kinds = env.kinds();
    assert!(kinds.contains(&"control.emergency_stop".into()));
    let stop = env
        .entries()
        .into_iter()
        .find(|e| e["kind"] == "control.emergency_stop")
        .unwrap();
    assert_eq!(stop["body"]["status"], "CRITICAL");
}

#[test]
fn failing_liveness_restarts_the_instance_and_a_crash_loop_is_reported() {
    let env = Env::new(Opts {
        extra: r#"  live:
    listen: 127.0.0.1:0
    releases:
      ok: { run: "sleep 30" }
    health:
      liveness: { exec: "exit 1", period: 100ms, failure_threshold: 2 }
"#,
        ..Opts::default()
    });
    // `sleep` never listens, so it never becomes ready; liveness (exec) fails anyway.
    env.p.gantry(&["deploy", "live", "--version", "ok"]).ok();
    env.wait_for(30, "restarts and a crash loop", |e| {
        let kinds = e.kinds();
        kinds.iter().filter(|k| *k == "instance.restarted").count() >= 2
            && kinds.iter().any(|k| k == "instance.crashlooping")
    });
    let restarted = env
        .entries()
        .into_iter()
        .find(|e| e["kind"] == "instance.restarted")
        .unwrap();
    assert_eq!(restarted["body"]["reason"], "liveness probe failed");
    assert!(restarted["body"]["pgid"].as_i64().is_some());
    // A crash-looping first deploy fails (and its instance is stopped).
    env.wait_for(30, "the deploy to fail", |e| {
        e.entries().iter().any(|x| {
            x["kind"] == "deployment.state.failed"
                && x["body"]["reason"].as_str().is_some_and(|r| {
                    r.contains("crash looping") && r.contains(".gantry/logs/live/")
                })
        })
    });
}

#[test]
fn after_sigkill_of_serve_mid_deploy_a_restart_rolls_back_and_leaves_no_orphans() {
    let mut env = Env::new(Opts {
        strategy: "{ canary: { steps: [ {weight: 20} ], progress_deadline: 5s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    env.p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    env.wait_for(20, "canary waiting", |e| {
        e.web()["deployment"]["waiting_for_promote"] == true
    });
    let groups = instance_groups(env.p.path());
    assert_eq!(groups.len(), 2, "v1 and v2 instances");
    env.serve.kill9();
    assert!(
        groups.iter().all(|g| group_alive(*g)),
        "the instances outlive a crashed control plane"
    );

    // The router lives in the control plane's process, so traffic stops with it; what is
    // required is that a restart serves the stable version again within seconds, and
    // then fails nothing.
    env.serve.restart(&env.p);
    env.wait_for(20, "v1 serving again", |e| {
        let web = e.web();
        web["weights"]["v1"] == 100
            && web["instances"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["ready"] == true))
    });
    let load = Load::start(env.addr(), 100, 4);
    crate::until_more_requests(&load, 100);
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    assert!(stats.served_by("v1") > 0);
    assert_eq!(stats.served_by("v2"), 0);
    // The canary's v2 is killed; the stable v1 is adopted (verified by pid, start time,
    // group, marker variables and port), not restarted.
    let entries = env.entries();
    let killed: Vec<_> = entries
        .iter()
        .filter(|e| e["kind"] == "instance.killed")
        .collect();
    assert_eq!(killed.len(), 1, "{killed:?}");
    assert_eq!(killed[0]["body"]["version"], "v2");
    assert_eq!(killed[0]["body"]["result"], "killed");
    let adopted: Vec<_> = entries
        .iter()
        .filter(|e| e["kind"] == "instance.adopted")
        .collect();
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    assert_eq!(adopted[0]["body"]["version"], "v1");
    let v1_group = adopted[0]["body"]["pgid"].as_i64().unwrap() as i32;
    for g in &groups {
        assert_eq!(
            group_alive(*g),
            *g == v1_group,
            "group {g}: only the adopted v1 runs on"
        );
    }
    let rolled = entries
        .iter()
        .find(|e| e["kind"] == "deployment.state.rolled_back")
        .expect("rolled_back");
    assert_eq!(rolled["body"]["to"], "v1");
    assert!(entries.iter().any(|e| e["kind"] == "control.recovered"));
    assert_eq!(env.web()["stable"], "v1");
    // The interrupted deployment is known across the restart, from the ledger.
    let d = deployment(&env, "web-2");
    assert_eq!(d["phase"], "rolled_back", "{d}");
    let timeline = d["timeline"].as_array().unwrap();
    assert!(
        timeline.iter().any(|e| e["text"] == "traffic v1=80 v2=20")
            && timeline
                .iter()
                .any(|e| e["kind"] == "deployment.state.rolled_back"),
        "{d}"
    );
    env.p.gantry(&["ledger", "verify"]).ok();
    // Adopted instances are the control plane's own again: a clean stop stops them too.
    env.serve.stop();
    for g in &groups {
        assert!(!group_alive(*g), "orphan group {g} survived");
    }
    // Without a control plane the CLI says so, with its own exit code.
    env.p
        .gantry(&["ps"])
        .fails_with(5)
        .says("the control plane");
}

/// `GET /v1/deployments/{id}` with the admin token.
fn deployment(env: &Env, id: &str) -> serde_json::Value {
    let api: std::net::SocketAddr = env.serve.url.trim_start_matches("http://").parse().unwrap();
    let token = std::fs::read_to_string(env.p.path().join(".gantry/admin.token")).unwrap();
    let (status, text) = http_get(api, &format!("/v1/deployments/{id}"), Some(token.trim()));
    assert_eq!(status, 200, "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn pids(env: &Env) -> Vec<u64> {
    let mut p: Vec<u64> = env.web()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["pid"].as_u64())
        .collect();
    p.sort_unstable();
    p
}

#[test]
fn restarts_adopt_the_healthy_stable_instances_instead_of_restarting_them() {
    let mut env = Env::new(Opts {
        instances: 2,
        ..Opts::default()
    });
    env.deploy_v1();
    let before = pids(&env);
    assert_eq!(before.len(), 2);
    // Twice: an adoption records what identifies the instance for the next crash.
    for round in 1..=2 {
        env.serve.kill9();
        let seen = env.entries().len();
        env.serve.restart(&env.p);
        env.wait_for(20, "v1 serving again", |e| {
            let web = e.web();
            web["weights"]["v1"] == 100
                && web["instances"]
                    .as_array()
                    .is_some_and(|i| i.iter().filter(|i| i["ready"] == true).count() == 2)
        });
        assert_eq!(
            pids(&env),
            before,
            "round {round}: the same processes serve"
        );
        let load = Load::start(env.addr(), 100, 4);
        crate::until_more_requests(&load, 50);
        let stats = load.stop();
        let kinds: Vec<String> = env.kinds().split_off(seen);
        assert_eq!(stats.failures(&[]), 0, "{stats:?}");
        assert_eq!(
            kinds.iter().filter(|k| *k == "instance.adopted").count(),
            2,
            "round {round}: {kinds:?}"
        );
        assert!(
            !kinds
                .iter()
                .any(|k| k == "instance.started" || k == "instance.killed"),
            "round {round}: {kinds:?}"
        );
    }
    // The first deploy, from before both restarts, is still known.
    let d = deployment(&env, "web-1");
    assert_eq!(
        (d["phase"].as_str(), d["to"].as_str()),
        (Some("succeeded"), Some("v1")),
        "{d}"
    );
    let groups = instance_groups(env.p.path());
    env.serve.stop();
    for g in &groups {
        assert!(!group_alive(*g), "group {g} survived a clean stop");
    }
}
