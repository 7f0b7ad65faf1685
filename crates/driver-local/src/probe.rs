//! One probe attempt: HTTP GET, TCP connect or a shell command, bounded by a timeout.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use gantry_config::{Probe, ProbeCheck, StatusCodes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Runs `probe` once against the instance at `addr`; true if it passes.
pub async fn probe_once(probe: &Probe, addr: SocketAddr) -> bool {
    let timeout = probe.timeout.as_std().max(Duration::from_millis(10));
    match probe.check() {
        Some(ProbeCheck::Http(path)) => {
            matches!(tokio::time::timeout(timeout, http_status(addr, path)).await, Ok(Some(code)) if probe.status.contains(code))
        }
        Some(ProbeCheck::Tcp) => tcp(addr, timeout).await,
        Some(ProbeCheck::Exec(cmd)) => exec(cmd, addr, timeout, probe.status).await,
        None => false,
    }
}

/// A TCP connection to `addr` succeeds within `timeout`.
pub async fn tcp(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: gantry-probe\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.ok()?;
    // The status line is all we need: "HTTP/1.1 200 OK".
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

async fn exec(cmd: &str, addr: SocketAddr, timeout: Duration, status: StatusCodes) -> bool {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("PORT", addr.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    let pgid = child.id().and_then(|p| i32::try_from(p).ok());
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(exit)) => {
            // `status:` of an exec probe names accepted exit codes; by default only 0.
            let code = exit.code().unwrap_or(-1);
            if status == StatusCodes::default() {
                code == 0
            } else {
                u16::try_from(code).is_ok_and(|c| status.contains(c))
            }
        }
        _ => {
            if let Some(pgid) = pgid {
                crate::process::signal_group(pgid, nix::sys::signal::Signal::SIGKILL);
            }
            false
        }
    }
}
