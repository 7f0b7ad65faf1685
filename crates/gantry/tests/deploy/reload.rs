//! Config reload (issue 11, item 3): `gantry reload` and SIGHUP read gantry.yaml again in
//! the running control plane — validated first, the old config kept on any error, new
//! services deployable at once, a deployment in progress undisturbed.

use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::load::Load;
use gantry_test_support::serve::gantry_exits;
use sha2::{Digest, Sha256};

use crate::{BIN, Env, Opts, http_get};

/// gantry.yaml as it is now, with one more service `api` on its own port.
fn with_api(env: &Env) -> (String, u16) {
    let port = free_port();
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    let text = std::fs::read_to_string(env.p.path().join("gantry.yaml")).unwrap();
    let api = format!(
        r#"  api:
    listen: 127.0.0.1:{port}
    releases:
      v1: {{ run: "{d} --port {{port}} --version api-v1" }}
    health:
      readiness: {{ http: /health, period: 100ms, timeout: 500ms, failure_threshold: 2 }}
"#
    );
    // Services are the last mapping before `policy:`; `api` goes right after `web`.
    let at = text.find("\n# A test fixture").expect("fixture marker");
    let mut out = text.clone();
    out.insert_str(at + 1, &api);
    (out, port)
}

fn write_config(env: &Env, text: &str) -> String {
    std::fs::write(env.p.path().join("gantry.yaml"), text).unwrap();
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn reloads(env: &Env) -> Vec<serde_json::Value> {
    env.entries()
        .into_iter()
        .filter(|e| e["kind"] == "config.reloaded")
        .collect()
}

#[test]
fn issue11_a_service_added_to_gantry_yaml_deploys_after_gantry_reload_without_a_restart() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    let pid = env.serve.pid();
    let (text, port) = with_api(&env);
    let sha = write_config(&env, &text);
    // Edited but not reloaded: the control plane does not know it, and says how to fix that.
    env.p
        .gantry(&["deploy", "api", "--version", "v1"])
        .fails_with(2)
        .says("loaded gantry.yaml at")
        .says("gantry reload");
    let out = env.p.gantry(&["--json", "reload"]).ok().json();
    assert_eq!(out["sha256"], sha.as_str(), "{out}");
    assert_eq!(out["added"], serde_json::json!(["api"]), "{out}");
    env.p
        .gantry(&["deploy", "api", "--version", "v1", "--wait"])
        .ok();
    let (status, head) = http_get(([127, 0, 0, 1], port).into(), "/", None);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("api-v1"), "{head}");
    // web was not disturbed and the same process serves both.
    assert_eq!(http_get(env.addr(), "/", None).0, 200);
    assert_eq!(env.serve.pid(), pid);
    let r = reloads(&env);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["body"]["sha256"], sha.as_str());
    assert_eq!(r[0]["actor"]["role"], "operator", "{}", r[0]);
    // The replayed state knows the new service too (it is in `ps` after the reload).
    let names: Vec<String> = env.ps()["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["api", "web"]);
}

#[test]
fn issue11_a_broken_gantry_yaml_is_refused_with_its_location_and_the_old_config_keeps_running() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    let good = std::fs::read_to_string(env.p.path().join("gantry.yaml")).unwrap();
    // An unknown key under `web`: line 11 of the fixture (`    instances: 1`) misspelt.
    let broken = good.replacen("    instances: 1", "    instancez: 1", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("instancez"))
        .unwrap()
        + 1;
    write_config(&env, &broken);
    env.p
        .gantry(&["reload"])
        .fails_with(2)
        .says(&format!("gantry.yaml:{line}:"))
        .says("the running config stays");
    // The old config still runs: web takes a deploy as before (accepted; without traffic
    // its canary then waits for evidence, which is not this test's business).
    env.p
        .gantry(&["deploy", "web", "--version", "v2"])
        .ok()
        .says("v2");
    assert!(reloads(&env).is_empty());
    // What only a restart can change is refused by name, not silently kept.
    let moved = good.replacen(
        &format!("127.0.0.1:{}", env.port),
        &format!("127.0.0.1:{}", free_port()),
        1,
    );
    write_config(&env, &moved);
    env.p
        .gantry(&["reload"])
        .fails_with(4)
        .says("services.web.listen changed");
    assert!(reloads(&env).is_empty());
    // Issue 8: alert rules are set up when serve starts; a new one would not be evaluated.
    let alerted =
        format!("{good}alerts:\n  - {{ name: web-rolled-back, when: {{ rollback: web }} }}\n");
    write_config(&env, &alerted);
    env.p
        .gantry(&["reload"])
        .fails_with(4)
        .says("`alerts` changed (alert rules are set up at start)");
    assert!(reloads(&env).is_empty());
}

#[test]
fn issue11_sighup_reloads_and_a_deployment_in_progress_keeps_the_settings_it_started_with() {
    let env = Env::new(Opts::default());
    env.deploy_v1();
    // Traffic, so that analysis has requests to judge in every window.
    let load = Load::start(env.addr(), 50, 2);
    // A canary of two 1.5 s pauses; while it runs, gantry.yaml switches web to a single
    // step at 50 % and adds a service.
    env.p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    env.wait_for(20, "the canary's first step", |e| {
        e.web()["deployment"]["weights"]["v2"] == 20
    });
    let (text, _) = with_api(&env);
    let text = text.replace(
        "steps: [ {weight: 20, pause: 1500ms}, {weight: 50, pause: 1500ms} ]",
        "steps: [ {weight: 50, pause: 200ms} ]",
    );
    let sha = write_config(&env, &text);
    let pid = env.serve.pid().expect("serve pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    env.wait_for(20, "config.reloaded after SIGHUP", |e| {
        !reloads(e).is_empty()
    });
    let r = reloads(&env);
    assert_eq!(r[0]["body"]["sha256"], sha.as_str());
    assert_eq!(r[0]["body"]["changed"], serde_json::json!(["web"]));
    assert_eq!(
        r[0]["actor"]["role"], "gantry",
        "SIGHUP is the system's: {}",
        r[0]
    );
    // `api` sorts before `web` in `ps` now.
    env.wait_for(30, "the canary to end", |e| {
        e.ps()["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "web" && s["stable"] == "v2")
    });
    // The running canary went through both of its own steps (20 then 50), not the new one.
    let shifted: Vec<u64> = env
        .entries()
        .iter()
        .filter(|e| e["kind"] == "traffic.shifted")
        .filter_map(|e| e["body"]["weights"]["v2"].as_u64())
        .collect();
    assert!(
        shifted.windows(2).any(|w| w == [20, 50]),
        "the canary's own steps: {shifted:?}"
    );
    // The next deployment uses the new settings: 50 % for 200 ms, then 100 % (the old
    // ones would have given v1 20 % first).
    gantry_exits(
        &env.p,
        &["deploy", "web", "--version", "v1", "--wait"],
        &[],
        60,
    )
    .ok();
    load.stop();
    let v1: Vec<u64> = env
        .entries()
        .iter()
        .filter(|e| e["kind"] == "traffic.shifted")
        .filter_map(|e| e["body"]["weights"]["v1"].as_u64())
        .collect();
    assert!(
        !v1.contains(&20),
        "the new deployment used the old steps: {v1:?}"
    );
}
