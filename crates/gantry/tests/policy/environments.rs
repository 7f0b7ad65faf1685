//! Environments through the real binary: each environment its own target (address,
//! instances, stable version), `ps --env`, and pipelines' `deploy: web` with `env:`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;

use crate::BIN;

/// Ports of dev, staging and production.
pub struct Ports {
    pub dev: u16,
    pub staging: u16,
    pub production: u16,
}

/// A project with service `web` (v1, v2) in dev, staging and production, promoted in that
/// order; `envs` is the body of each environment after its address (`dev_extra`, …) and
/// `extra` more top-level YAML.
pub fn project(staging: &str, production: &str, extra: &str) -> (TestProject, Ports) {
    let p = TestProject::init(BIN);
    let demo = demo_app(BIN.as_ref());
    let d = demo.display();
    let ports = Ports {
        dev: free_port(),
        staging: free_port(),
        production: free_port(),
    };
    let config = format!(
        r#"project: envs
agents:
  planner: {{ id: PlanAgent }}
  operator: {{ id: OperationsBoardAgent }}
  verifier: {{ id: ReviewAgent }}
services:
  web:
    listen: 127.0.0.1:{prod}
    releases:
      v1: {{ run: "{d} --port {{port}} --version v1" }}
      v2: {{ run: "{d} --port {{port}} --version v2" }}
    health:
      readiness: {{ http: /health, period: 100ms, timeout: 500ms }}
environments:
  dev:
    local: {{ listen: {{ web: 127.0.0.1:{dev} }} }}
  staging:
    local: {{ listen: {{ web: 127.0.0.1:{staging_port} }} }}
{staging}
  production:
{production}
promotion: [dev, staging, production]
# A fixture: the top-level gate only warns; environments set their own policy.
policy: {{ default: warning }}
{extra}"#,
        prod = ports.production,
        dev = ports.dev,
        staging_port = ports.staging,
    );
    std::fs::write(p.path().join("gantry.yaml"), config).unwrap();
    (p, ports)
}

/// `GET /` on `port`: the version that answered, or `None` when nothing answers 200.
pub fn version_at(port: u16) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    // demo-app answers `demo-app VERSION`.
    let body = text.split("\r\n\r\n").nth(1)?;
    body.split_whitespace().last().map(str::to_string)
}

/// The `ps --json` entry of target `name`.
pub fn target(p: &TestProject, name: &str) -> Value {
    let ps = p.gantry(&["--json", "ps"]).ok().json();
    ps["services"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no target {name} in ps: {ps:#}"))
}

/// Polls `f` until it holds, up to `secs`.
pub fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_environment_is_its_own_target_with_its_own_address_and_stable_version() {
    let (p, ports) = project("", "    {}", "");
    let _serve = Serve::start(&p);
    let deploy = |env: &str, version: &str| {
        p.gantry(&[
            "deploy",
            "web",
            "--env",
            env,
            "--version",
            version,
            "--wait",
        ])
        .ok();
    };
    deploy("dev", "v1");
    deploy("staging", "v1");
    deploy("dev", "v2");

    assert_eq!(version_at(ports.dev).as_deref(), Some("v2"));
    assert_eq!(version_at(ports.staging).as_deref(), Some("v1"));
    // Nothing deployed to production: its address serves no version.
    assert_eq!(version_at(ports.production), None);

    let dev = target(&p, "web@dev");
    assert_eq!(
        (dev["stable"].as_str(), dev["env"].as_str()),
        (Some("v2"), Some("dev"))
    );
    assert_eq!(dev["listen"], format!("127.0.0.1:{}", ports.dev));
    assert_eq!(target(&p, "web@staging")["stable"], "v1");
    assert!(target(&p, "web@production")["stable"].is_null());

    // `ps --env` shows that environment's targets only; plain `ps` shows all of them.
    let only = p.gantry(&["--json", "ps", "--env", "staging"]).ok().json();
    let names: Vec<&str> = only["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["web@staging"]);
    p.gantry(&["ps"])
        .ok()
        .says("web@dev")
        .says("web@staging")
        .says("web@production");
    p.gantry(&["ps", "--env", "qa"])
        .fails_with(2)
        .says("no environment 'qa'");

    // The status report has every environment's target, each with its own address.
    let status = p.gantry(&["--json", "status"]).json();
    let shown: Vec<(String, String)> = status["services"]
        .as_array()
        .unwrap_or_else(|| panic!("no services in {status:#}"))
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["stable"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let want = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(
        shown,
        [
            want("web@dev", "v2"),
            want("web@production", "-"),
            want("web@staging", "v1")
        ],
        "{status:#}"
    );

    // The ledger says which target each deployment went to.
    let done: Vec<String> = p
        .entries_of("deployment.state.succeeded")
        .iter()
        .filter_map(|e| e["body"]["service"].as_str().map(str::to_string))
        .collect();
    assert_eq!(done, ["web@dev", "web@staging", "web@dev"]);
}

#[test]
fn a_deploy_that_names_no_environment_or_an_unknown_one_is_refused() {
    let (p, _ports) = project("", "    {}", "");
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1"])
        .fails_with(2)
        .says("several environments")
        .says("dev, production, staging");
    p.gantry(&["deploy", "web", "--env", "qa", "--version", "v1"])
        .fails_with(2)
        .says("no environment 'qa'");
}

#[test]
fn a_pipeline_deploy_step_with_env_targets_that_environment() {
    let extra = r#"pipelines:
  release:
    stages:
      - name: ship
        steps:
          - { deploy: web, version: v1, env: dev }
          - { deploy: web, version: v1, env: staging }
          - { smoke: "GET / == 200" }
"#;
    let (p, ports) = project("", "    {}", extra);
    let _serve = Serve::start(&p);
    p.gantry(&["run", "release"]).ok();
    eventually(30, "staging serving v1", || {
        version_at(ports.staging).as_deref() == Some("v1")
    });
    assert_eq!(target(&p, "web@dev")["stable"], "v1");
    assert!(target(&p, "web@production")["stable"].is_null());
    assert_eq!(target(&p, "web@staging")["stable"], "v1");
}
