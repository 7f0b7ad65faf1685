//! Agents and the API (issue 10): role-scoped tokens enforced by `gantry serve`, the
//! OpenAPI document, and the MCP server, each driven through the real binary on 127.0.0.1.

mod budgets;
mod decisions;
mod events;
mod mcp;
mod openapi;
mod roles;
mod runs;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");

/// A project with service `web` (demo-app releases v1, v2 and a bad v3), the three
/// agents (the verifier signs by hand: over the API, MCP or `gantry sign`), a custom role
/// `deployer` (read, deploy), pipeline `release` whose `build` checkpoint needs the
/// verifier, and a running control plane.
pub struct Env {
    pub p: TestProject,
    pub serve: Serve,
}

pub fn config(port: u16) -> String {
    let d = demo_app(std::path::Path::new(BIN));
    let d = d.display();
    format!(
        r#"project: agents
agents:
  planner: {{ id: PlanAgent }}
  operator: {{ id: OperationsBoardAgent }}
  verifier: {{ id: ReviewAgent, manual: true }}
access:
  roles:
    deployer: {{ permissions: [read, deploy] }}
services:
  web:
    listen: 127.0.0.1:{port}
    releases:
      v1: {{ run: "{d} --port {{port}} --version v1" }}
      v2: {{ run: "{d} --port {{port}} --version v2" }}
      v3: {{ run: "{d} --port {{port}} --version v3 --error-rate 0.5" }}
    health:
      readiness: {{ http: /health, period: 100ms, timeout: 500ms, failure_threshold: 2 }}
    strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 1500ms}} ], progress_deadline: 10s }} }}
    analysis: {{ error_rate: "< 5%", min_requests: 10, window: 1s }}
pipelines:
  release:
    stages:
      - name: build
        steps: [ {{ name: test, run: "echo built-ok" }} ]
        checkpoint: {{ role: verifier, summary: required }}
      - name: ship
        steps: [ {{ name: ship, run: "echo shipped > shipped.txt" }} ]
# A test fixture, not production-ready: the policy gate reports, it does not veto.
policy: {{ default: warning }}
"#
    )
}

impl Env {
    pub fn start() -> Env {
        Env::start_with(|c| c)
    }

    /// As [`Env::start`], with the test config changed by `edit` first.
    pub fn start_with(edit: impl FnOnce(String) -> String) -> Env {
        let p = TestProject::init(BIN);
        let _: PathBuf = demo_app(std::path::Path::new(BIN));
        std::fs::write(p.path().join("gantry.yaml"), edit(config(free_port()))).unwrap();
        p.gantry(&["check"]).ok();
        let serve = Serve::start(&p);
        Env { p, serve }
    }

    pub fn api(&self) -> SocketAddr {
        self.serve
            .url
            .trim_start_matches("http://")
            .parse()
            .unwrap()
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.p.path().join(".gantry/admin.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// A new token for `role`, created with the CLI.
    pub fn token(&self, role: &str, name: &str, expires: Option<&str>) -> String {
        let mut args = vec!["--json", "token", "create", "--role", role, "--name", name];
        if let Some(e) = expires {
            args.extend(["--expires", e]);
        }
        self.p.gantry(&args).ok().json()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn entries(&self) -> Vec<Value> {
        self.p
            .ledger_lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until `f` holds, polling every 50ms; panics after `secs` with the serve log.
    pub fn wait_for(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; serve log:\n{}",
                self.serve.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An HTTP answer as it came over the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub text: String,
}

impl Reply {
    /// A response header's value (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let head = self.text.split_once("\r\n\r\n").map_or("", |(h, _)| h);
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.body()).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

/// One request on a fresh connection with an optional bearer token and JSON body.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    call_with(addr, method, path, token, body, &[])
}

/// As [`call`], with more request headers.
pub fn call_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if method != "GET" {
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
    Reply { status, text }
}

/// `.venv/bin/NAME` at the workspace root (`scripts/test.sh` installs the Python peers
/// there), if `probe` (a Python import line) works in that venv; else `None` after saying
/// why, or a panic when `CI` is set: a missing peer never passes silently.
pub fn venv_tool(name: &str, probe: &str) -> Option<PathBuf> {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
    let ok = std::process::Command::new(venv.join("python3"))
        .args(["-c", probe])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok && venv.join(name).exists() {
        return Some(venv.join(name));
    }
    let why = format!(
        "{} cannot `{probe}`; run ./scripts/test.sh (it installs the Python peers into .venv)",
        venv.join("python3").display()
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI is set and {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED (not CI): {why}");
    None
}
