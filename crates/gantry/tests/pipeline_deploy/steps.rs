//! `deploy:` and `smoke:` steps against a running control plane, and without one.

use std::net::SocketAddr;
use std::time::Duration;

use gantry_test_support::load::Load;
use gantry_test_support::serve::{Serve, group_alive, instance_groups};

use crate::{last_run, project, steps, web};

#[test]
fn a_stage_deploys_v1_then_v2_and_smoke_checks_pass() {
    let (p, port) = project(
        r#"  release:
    stages:
      - name: ship
        steps:
          - { name: first, deploy: web, version: v1, env: staging }
          - { name: root ok, smoke: "GET / == 200" }
          - { name: second, deploy: web, version: v2, strategy: canary }
          - { name: health ok, smoke: "GET /health == 2xx" }
          - { name: by url, smoke: "HEAD http://LISTEN/ == 200" }
"#,
    );
    let serve = Serve::start(&p);
    p.gantry(&["run", "release"]).ok();
    let run = last_run(&p);
    assert_eq!(steps(&p, &run, "succeeded").len(), 5);
    assert!(steps(&p, &run, "failed").is_empty());

    // The control plane did what the steps say they did.
    let web = web(&p);
    assert_eq!(web["stable"], "v2", "{web:#}");
    let done: Vec<_> = p
        .entries_of("deployment.state.succeeded")
        .into_iter()
        .map(|e| e["body"].clone())
        .collect();
    assert_eq!(done.len(), 2, "{done:?}");

    let first = p.gantry(&["logs", &run, "first"]).ok().stdout();
    assert!(first.contains("environment 'staging'"), "{first}");
    assert!(first.contains("web nothing → v1"), "{first}");
    let second = p.gantry(&["logs", &run, "second"]).ok().stdout();
    assert!(second.contains("web v1 → v2 (canary) started"), "{second}");
    // The deployment's own timeline, as `gantry deploy --wait` prints it.
    assert!(second.contains("traffic v1=50 v2=50"), "{second}");
    let root = p.gantry(&["logs", &run, "root ok"]).ok().stdout();
    assert!(
        root.contains(&format!("GET http://127.0.0.1:{port}/ → 200")),
        "{root}"
    );
    assert!(root.contains("served by v1"), "{root}");
    let health = p.gantry(&["logs", &run, "health ok"]).ok().stdout();
    assert!(health.contains("served by v2"), "{health}");
    p.gantry(&["ledger", "verify"]).ok();

    let groups = instance_groups(p.path());
    assert!(!groups.is_empty());
    drop(serve);
    assert!(groups.iter().all(|g| !group_alive(*g)), "instances left");
}

#[test]
fn a_bad_version_rolled_back_fails_the_step_and_the_run() {
    let (p, port) = project(
        r#"  release:
    stages:
      - name: ship
        steps:
          - { name: bad, deploy: web, version: v3 }
          - { name: after, smoke: "GET / == 200" }
      - name: rollback-if-needed
        if: failure()
        steps:
          - { name: still v1, smoke: "GET / == 200" }
"#,
    );
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    // Analysis judges the canary on its own requests, so it needs traffic.
    let load = Load::start(SocketAddr::from(([127, 0, 0, 1], port)), 150, 4);
    std::thread::sleep(Duration::from_millis(200));
    p.gantry(&["run", "release"])
        .fails_with(1)
        .says("rolled back")
        .says("error rate");
    load.stop();
    let run = last_run(&p);
    let failed = steps(&p, &run, "failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let reason = failed[0]["body"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("deploy: deployment ") && reason.contains("rolled back: "),
        "{reason}"
    );
    assert!(reason.contains("error rate"), "{reason}");
    // The smoke after the failed deploy did not run; the failure() stage's did, on v1.
    assert_eq!(steps(&p, &run, "skipped").len(), 1);
    let still = p.gantry(&["logs", &run, "still v1"]).ok().stdout();
    assert!(still.contains("served by v1"), "{still}");
    assert_eq!(web(&p)["stable"], "v1");
    let log = p.gantry(&["logs", &run, "bad"]).ok().stdout();
    assert!(log.contains("rollback to v1 triggered"), "{log}");
    assert_eq!(p.entries_of("pipeline.state.failed").len(), 1);
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn a_smoke_check_that_gets_the_wrong_status_fails_with_what_it_got() {
    let (p, _port) = project(
        r#"  release:
    stages:
      - name: check
        steps:
          - { name: missing, smoke: "GET /nope == 200" }
"#,
    );
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    p.gantry(&["run", "release"])
        .fails_with(1)
        .says("→ 404")
        .says("expected 200");
    let run = last_run(&p);
    let failed = steps(&p, &run, "failed");
    let reason = failed[0]["body"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("smoke: GET http://127.0.0.1:") && reason.contains("/nope → 404 in "),
        "{reason}"
    );
    assert!(reason.contains("served by v1, expected 200"), "{reason}");
    let log = p.gantry(&["logs", &run, "missing"]).ok().stdout();
    assert!(log.contains("body: not found"), "{log}");
}

#[test]
fn without_a_control_plane_the_steps_fail_clearly() {
    let (p, _port) = project(
        r#"  deploy:
    stages:
      - name: ship
        steps: [ { deploy: web, version: v1 } ]
  smoke:
    stages:
      - name: check
        steps: [ { smoke: "GET /health == 200" } ]
"#,
    );
    p.gantry(&["run", "deploy"])
        .fails_with(1)
        .says("control plane is not running")
        .says("gantry serve --detach");
    assert!(p.entries_of("deployment.state.started").is_empty());
    p.gantry(&["run", "smoke"])
        .fails_with(1)
        .says("no answer")
        .says("gantry serve");
    p.gantry(&["ledger", "verify"]).ok();

    // A check that cannot be read is refused before anything runs.
    let yaml = std::fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    p.write_config(&yaml.replace("GET /health == 200", "GET /health = 200"));
    p.gantry(&["check"])
        .fails_with(2)
        .says("gantry::config::smoke_syntax")
        .says("gantry.yaml:25:27: invalid smoke check");
}

#[test]
fn a_deploy_step_honours_its_timeout() {
    let (p, _port) = project(
        r#"  release:
    stages:
      - name: ship
        steps:
          - { name: slow canary, deploy: web, version: v2, timeout: 300ms }
"#,
    );
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    // The canary pauses for 1.5s, so the step cannot finish within 300ms.
    p.gantry(&["run", "release"])
        .fails_with(1)
        .says("timed out after 300ms");
    let run = last_run(&p);
    let timed_out = steps(&p, &run, "timed_out");
    assert_eq!(timed_out.len(), 1, "{timed_out:?}");
    assert_eq!(timed_out[0]["body"]["name"], "slow canary");
    p.gantry(&["ledger", "verify"]).ok();
}
