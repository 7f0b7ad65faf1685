//! One probe of one target: an HTTP GET, a TCP connect or a shell command, bounded by the
//! target's timeout. A probe never errors: every outcome is a [`ProbeResult`].

use std::time::{Duration, Instant};

use gantry_config::StatusCodes;
use serde::Serialize;
use tokio::io::AsyncReadExt;

/// What to probe, fully resolved (environment substituted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// GET `url`; pass if the status is in `expect` and the body contains `contains`.
    Http {
        url: String,
        expect: StatusCodes,
        contains: Option<String>,
    },
    /// Connect to `addr`.
    Tcp { addr: String },
    /// `sh -c command`; pass if the exit code is in `expect`.
    Exec {
        command: String,
        expect: StatusCodes,
    },
}

impl Check {
    /// Where the probe goes, for the report.
    #[must_use]
    pub fn address(&self) -> &str {
        match self {
            Check::Http { url, .. } => url,
            Check::Tcp { addr } => addr,
            Check::Exec { command, .. } => command,
        }
    }

    /// `http`, `tcp` or `exec`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Http { .. } => "http",
            Check::Tcp { .. } => "tcp",
            Check::Exec { .. } => "exec",
        }
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeResult {
    pub ok: bool,
    /// How long the probe took (to the timeout, for one that timed out).
    pub latency_ms: f64,
    /// Why it failed, in words (`connection refused`, `status 500, expected 200..399`).
    pub reason: Option<String>,
}

impl ProbeResult {
    fn pass(started: Instant) -> ProbeResult {
        ProbeResult {
            ok: true,
            latency_ms: ms(started.elapsed()),
            reason: None,
        }
    }

    fn fail(started: Instant, reason: impl Into<String>) -> ProbeResult {
        ProbeResult {
            ok: false,
            latency_ms: ms(started.elapsed()),
            reason: Some(reason.into()),
        }
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Bodies are read up to this much for `contains`: a probe is not a download.
const MAX_BODY: usize = 1 << 20;

/// Probes `check` once, giving up after `timeout`.
pub async fn probe(http: &reqwest::Client, check: &Check, timeout: Duration) -> ProbeResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, run(http, check, started)).await;
    match outcome {
        Ok(result) => result,
        Err(_) => ProbeResult::fail(
            started,
            format!(
                "timed out after {}",
                gantry_config::Duration::from_millis(timeout.as_millis() as u64)
            ),
        ),
    }
}

async fn run(http: &reqwest::Client, check: &Check, started: Instant) -> ProbeResult {
    match check {
        Check::Http {
            url,
            expect,
            contains,
        } => {
            let response = match http.get(url).send().await {
                Ok(r) => r,
                Err(e) => return ProbeResult::fail(started, describe_reqwest(&e)),
            };
            let status = response.status().as_u16();
            if !expect.contains(status) {
                return ProbeResult::fail(started, format!("status {status}, expected {expect}"));
            }
            if let Some(needle) = contains {
                let body = match read_body(response).await {
                    Ok(b) => b,
                    Err(e) => return ProbeResult::fail(started, format!("reading the body: {e}")),
                };
                if !body.contains(needle.as_str()) {
                    return ProbeResult::fail(
                        started,
                        format!("body does not contain '{}'", needle.escape_debug()),
                    );
                }
            }
            ProbeResult::pass(started)
        }
        Check::Tcp { addr } => match tokio::net::TcpStream::connect(addr.as_str()).await {
            Ok(_) => ProbeResult::pass(started),
            Err(e) => ProbeResult::fail(started, describe_io(&e)),
        },
        Check::Exec { command, expect } => exec(command, *expect, started).await,
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Runs the command in its own process group; the whole group is killed when the probe
/// ends early (timeout), so a hung `curl` under `sh` does not outlive it.
async fn exec(command: &str, expect: StatusCodes, started: Instant) -> ProbeResult {
    let mut child = match tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return ProbeResult::fail(started, format!("cannot run sh: {e}")),
    };
    let group = GroupGuard(child.id());
    let mut stderr = child.stderr.take();
    let status = child.wait().await;
    let mut err = String::new();
    if let Some(s) = stderr.as_mut() {
        let mut buf = Vec::new();
        let _ = s.take(4096).read_to_end(&mut buf).await;
        err = String::from_utf8_lossy(&buf).trim().to_string();
    }
    drop(group);
    match status {
        Ok(status) => match status.code() {
            Some(code) if code >= 0 && expect.contains(code as u16) => ProbeResult::pass(started),
            Some(code) => ProbeResult::fail(
                started,
                if err.is_empty() {
                    format!("exit code {code}, expected {expect}")
                } else {
                    format!("exit code {code}, expected {expect}: {}", last_line(&err))
                },
            ),
            None => ProbeResult::fail(started, "killed by a signal"),
        },
        Err(e) => ProbeResult::fail(started, format!("waiting for the command: {e}")),
    }
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or(text)
}

/// Kills the probe's process group when dropped (also when the probe's future is dropped
/// at its timeout).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0
            && let Ok(pid) = i32::try_from(pid)
        {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return describe_io(io);
        }
        source = s.source();
    }
    // Not an I/O error: a TLS handshake the client refused (an untrusted certificate, a
    // wrong name) — the innermost cause says which.
    let mut last: &dyn std::error::Error = e;
    while let Some(s) = last.source() {
        last = s;
    }
    if e.is_connect() {
        if std::ptr::addr_eq(last, e as &dyn std::error::Error) {
            "cannot connect".into()
        } else {
            format!("cannot connect: {last}")
        }
    } else {
        e.to_string()
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

/// The HTTP client probes share: no redirects followed (a 302 is a status to judge), no
/// proxy from the environment (targets are what the config names), connections kept.
pub fn client() -> Result<reqwest::Client, crate::MonitorError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("gantry-monitor/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| crate::MonitorError::Client(e.to_string()))
}
