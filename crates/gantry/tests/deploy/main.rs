//! Deployment integration tests: the real `gantry serve` with real demo-app instances on
//! 127.0.0.1, under load from this process, counting every failed request.

mod api_input;
mod authority;
mod basics;
mod client_faults;
mod control;
mod deadline;
mod draining;
mod grpc;
mod one_serve;
mod promote;
mod reload;
mod rollback;
mod strategies;
mod tokens;
mod websocket;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A project whose service `web` has releases v1, v2 (good), v3 (50% errors), slow
/// (400ms), never (never ready), slowstart (ready 2.5s after it starts) and the given
/// strategy; plus a running control plane.
pub struct Env {
    pub p: TestProject,
    pub serve: Serve,
    pub port: u16,
}

pub struct Opts {
    pub instances: u32,
    pub strategy: &'static str,
    pub extra: &'static str,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            instances: 1,
            strategy: "{ canary: { steps: [ {weight: 20, pause: 1500ms}, {weight: 50, pause: 1500ms} ], progress_deadline: 4s } }",
            extra: "",
        }
    }
}

pub fn config(demo: &std::path::Path, port: u16, opts: &Opts) -> String {
    let d = demo.display();
    format!(
        r#"project: test
agents:
  planner: {{ id: PlanAgent }}
  operator: {{ id: OperationsBoardAgent }}
  verifier: {{ id: ReviewAgent }}
services:
  web:
    listen: 127.0.0.1:{port}
    instances: {instances}
    releases:
      v1: {{ run: "{d} --port {{port}} --version v1" }}
      v2: {{ run: "{d} --port {{port}} --version v2" }}
      v3: {{ run: "{d} --port {{port}} --version v3 --error-rate 0.5" }}
      slow: {{ run: "{d} --port {{port}} --version slow --latency 700ms" }}
      never: {{ run: "{d} --port {{port}} --version never --fail-readiness" }}
      slowstart: {{ run: "{d} --port {{port}} --version slowstart --ready-after 2500ms" }}
    health:
      readiness: {{ http: /health, period: 100ms, timeout: 500ms, failure_threshold: 2 }}
    strategy: {strategy}
    analysis: {{ error_rate: "< 5%", latency_p99: "< 450ms", min_requests: 10, window: 1s }}
{extra}
# A test fixture, not a production service: the policy gate is tested in tests/policy.
policy: {{ default: warning }}
"#,
        instances = opts.instances,
        strategy = opts.strategy,
        extra = opts.extra,
    )
}

/// A checked project with [`config`] and no control plane running: (project, web's port).
pub fn project(opts: &Opts) -> (TestProject, u16) {
    let p = TestProject::init(BIN);
    let port = free_port();
    let demo: PathBuf = demo_app(std::path::Path::new(BIN));
    std::fs::write(p.path().join("gantry.yaml"), config(&demo, port, opts)).unwrap();
    p.gantry(&["check"]).ok();
    (p, port)
}

impl Env {
    pub fn new(opts: Opts) -> Env {
        let (p, port) = project(&opts);
        let serve = Serve::start(&p);
        Env { p, serve, port }
    }

    /// The control plane's API address.
    pub fn api(&self) -> SocketAddr {
        self.serve
            .url
            .trim_start_matches("http://")
            .parse()
            .unwrap()
    }

    /// The admin token `gantry init` wrote.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.p.path().join(".gantry/admin.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn ps(&self) -> Value {
        self.p.gantry(&["ps", "--json"]).ok().json()
    }

    pub fn web(&self) -> Value {
        self.ps()["services"][0].clone()
    }

    /// Kinds of all ledger entries, in order.
    pub fn kinds(&self) -> Vec<String> {
        self.entries()
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn entries(&self) -> Vec<Value> {
        self.p
            .ledger_lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn deploy_v1(&self) {
        self.p
            .gantry(&["deploy", "web", "--version", "v1", "--wait"])
            .ok();
    }

    /// Waits until `f` holds (polling every 50ms), or panics after `secs` with the log.
    pub fn wait_for(&self, secs: u64, what: &str, mut f: impl FnMut(&Env) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; ps: {:#}\nserve log:\n{}",
                self.ps(),
                self.serve.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits until `load` has sent `n` more requests than now (instead of a fixed sleep: on a
/// busy machine the load gets going later, never less), or panics after 20 s.
pub fn until_more_requests(load: &gantry_test_support::load::Load, n: u64) {
    let want = load.snapshot().requests + n;
    let deadline = Instant::now() + Duration::from_secs(20);
    while load.snapshot().requests < want {
        assert!(
            Instant::now() < deadline,
            "the load did not send {n} more requests in 20 s: {:?}",
            load.snapshot().requests
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One `GET path` on a fresh connection: (status, raw response head).
pub fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let reply = http(addr, "GET", path, &headers, None);
    (reply.status, reply.text)
}

/// An HTTP answer as it came over the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Head and body.
    pub text: String,
    /// The local address the request was sent from (what the server sees as its peer).
    pub from: SocketAddr,
}

impl Reply {
    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    /// The body as JSON, or a panic showing the whole answer.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.body()).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.text.split("\r\n\r\n").next().unwrap_or_default();
        head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// One request on a fresh connection, headers exactly as given (no Content-Type unless
/// listed), the body sent with its Content-Length.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let from = s.local_addr().unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Reply { status, text, from }
}

/// The ledger's lines without the monitor's `status.changed` entries: what tests compare to
/// show that a refused call changed nothing (the monitor records its first status as soon
/// as serve starts, whenever its first check round ends).
pub fn operations(ledger: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(ledger)
        .unwrap()
        .lines()
        .filter(|l| !l.contains(r#""kind":"status.changed""#))
        .map(str::to_string)
        .collect()
}
