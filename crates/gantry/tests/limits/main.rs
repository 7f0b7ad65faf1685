//! Resource limits and scaling (issue 14, scopes 5 and 7): the real `gantry serve` running
//! real demo-app instances under `resources:`, on 127.0.0.1.

mod scaling;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A project with one service `web` (demo-app v1 and v2) and `extra` lines under it.
pub fn project(extra: &str) -> (TestProject, u16) {
    let p = TestProject::init(BIN);
    let port = free_port();
    let demo = demo_app(Path::new(BIN));
    let d = demo.display();
    let config = format!(
        r#"project: test
services:
  web:
    listen: 127.0.0.1:{port}
    releases:
      v1: {{ run: "{d} --port {{port}} --version v1" }}
      v2: {{ run: "{d} --port {{port}} --version v2" }}
    health:
      readiness: {{ http: /health, period: 100ms, timeout: 1s, failure_threshold: 2 }}
{extra}
# A test fixture, not a production service: the policy gate is tested in tests/policy.
policy: {{ default: warning }}
"#
    );
    std::fs::write(p.path().join("gantry.yaml"), config).unwrap();
    (p, port)
}

pub fn ps(p: &TestProject) -> Value {
    p.gantry(&["ps", "--json"]).ok().json()
}

pub fn instances(p: &TestProject) -> Vec<Value> {
    ps(p)["services"][0]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

pub fn entries(p: &TestProject) -> Vec<Value> {
    p.ledger_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn of_kind(p: &TestProject, kind: &str) -> Vec<Value> {
    entries(p)
        .into_iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// Polls `f` every 100 ms until it holds, or panics after `secs` naming `what`.
pub fn wait_for(
    p: &TestProject,
    serve: &Serve,
    secs: u64,
    what: &str,
    mut f: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}; ps: {:#}\nserve log:\n{}",
            ps(p),
            serve.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One `GET path`; the status, or `None` when the connection failed or was cut.
pub fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn an_instance_over_its_memory_limit_is_reported_oomkilled() {
    let (p, port) = project("    resources: { cpu: 500m, memory: 64Mi }");
    p.gantry(&["check"]).ok();
    let serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();

    let inst = instances(&p);
    assert_eq!(inst.len(), 1, "{inst:#?}");
    // This machine decides which: a writable cgroup v2 subtree with the memory controller,
    // or rlimits, which every Linux process can set. Never none when limits are asked for.
    let mechanism = inst[0]["limits"].as_str().unwrap().to_string();
    assert!(
        mechanism == "cgroup" || mechanism == "rlimit",
        "limits enforced by {mechanism}"
    );
    println!("limits enforced by {mechanism}");
    let started = of_kind(&p, "instance.started");
    assert_eq!(
        started[0]["body"]["limits"]["mechanism"],
        mechanism.as_str()
    );
    if mechanism == "rlimit" {
        let cpu = started[0]["body"]["limits"]["cpu"].as_str().unwrap();
        assert!(cpu.contains("not enforced"), "{cpu}");
    }
    let text = p.gantry(&["ps"]).ok().stdout();
    assert!(text.contains(&mechanism), "{text}");

    // Well within the limit: served.
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(get(addr, "/alloc/8"), Some(200));
    // Four times the limit: the instance dies of it (the request fails with it).
    let status = get(addr, "/alloc/256");
    assert_ne!(
        status,
        Some(200),
        "256 MiB were allocated under a 64 MiB limit"
    );

    let want = if mechanism == "cgroup" {
        "OOMKilled"
    } else {
        "OOMKilled (rlimit)"
    };
    wait_for(&p, &serve, 60, "the OOM kill in ps", || {
        instances(&p)
            .iter()
            .any(|i| i["last_exit"].as_str() == Some(want))
    });
    // The restart is recorded once its backoff is over, with why it was needed.
    wait_for(&p, &serve, 60, "instance.restarted", || {
        !of_kind(&p, "instance.restarted").is_empty()
    });
    let restarted = of_kind(&p, "instance.restarted");
    let reason = restarted[0]["body"]["reason"].as_str().unwrap();
    println!("{reason}");
    assert!(reason.starts_with(want), "{reason}");
    assert!(!reason.contains("process exited"), "{reason}");
    let text = p.gantry(&["ps"]).ok().stdout();
    assert!(text.contains(want), "{text}");
    // And the supervisor restarted it, under the same limits.
    wait_for(&p, &serve, 60, "the instance back and ready", || {
        instances(&p)
            .iter()
            .any(|i| i["ready"] == true && i["restarts"].as_u64() >= Some(1))
    });
    assert_eq!(get(addr, "/"), Some(200));
    assert_eq!(
        of_kind(&p, "instance.restarted")[0]["body"]["limits"]["mechanism"],
        mechanism.as_str()
    );
}

#[test]
fn without_resources_nothing_is_limited() {
    let (p, _port) = project("");
    let serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let inst = instances(&p);
    assert_eq!(inst[0]["limits"], "none", "{inst:#?}");
    assert_eq!(
        of_kind(&p, "instance.started")[0]["body"]["limits"]["mechanism"],
        "none"
    );
    drop(serve);
}

#[test]
fn bad_quantities_are_located_errors() {
    let (p, _) = project("    resources: { cpu: 500m, memory: 128m }");
    let run = p.gantry(&["check"]).fails_with(2);
    let err = run.stderr();
    assert!(
        err.contains("milli-bytes") && err.contains("128Mi"),
        "{err}"
    );
    assert!(err.contains(":10:"), "names the line: {err}");
    let (p, _) = project("    resources: { cpu: 0.0001 }");
    let err = p.gantry(&["check"]).fails_with(2).stderr();
    assert!(
        err.contains("finer") && err.contains("millicores such as 1m"),
        "{err}"
    );
}

#[test]
fn the_gate_and_the_plan_read_resources_and_scaling() {
    // Without limits the gate names both rules (at warning here: the fixture's policy).
    let (p, _) = project("");
    let out = p.gantry(&["check"]).ok();
    let text = format!("{}{}", out.stdout(), out.stderr());
    assert!(
        text.contains("cpuLimitsMissing") && text.contains("memoryLimitsMissing"),
        "{text}"
    );

    let (p, _) = project(
        "    instances: 2\n    resources: { cpu: 200m, memory: 128Mi }\n    scaling: { min: 2, max: 5, target_cpu: 60% }",
    );
    let out = p.gantry(&["check"]).ok();
    let text = format!("{}{}", out.stdout(), out.stderr());
    assert!(
        !text.contains("cpuLimitsMissing") && !text.contains("memoryLimitsMissing"),
        "{text}"
    );
    let plan = p.gantry(&["plan"]).ok().json();
    let infra = &plan["infrastructure"];
    assert_eq!(infra["resources_required"]["cpu"], "200m");
    assert_eq!(infra["resources_required"]["memory"], "128Mi");
    assert_eq!(infra["resources_required"]["replicas"], 2);
    assert_eq!(
        infra["scaling"],
        serde_json::json!({"min": 2, "max": 5, "target_cpu": "60%", "period": "15s", "stabilization": "5m"})
    );
    // The plan round-trips through the gate without a limits violation.
    let gate = p.gantry_stdin(&["policy", "check", "--plan", "-"], &plan.to_string());
    let text = format!("{}{}", gate.stdout(), gate.stderr());
    assert!(!text.contains("LimitsMissing"), "{text}");
}
