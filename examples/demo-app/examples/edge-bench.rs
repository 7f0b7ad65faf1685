//! Load client for `bench/router-vs-nginx.sh` where wrk cannot go:
//!
//! - `ws URL CONNECTIONS SECONDS`: WebSocket echo round trips (each connection sends a
//!   message and waits for its echo, in a loop); prints `messages/s N`.
//! - `burst ADDR CONNECTIONS IDLE_SECONDS`: opens CONNECTIONS keep-alive connections,
//!   leaves them idle, then sends one `GET /` on each at once; prints `failures N` (no
//!   answer or not 200).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

async fn ws(url: String, connections: usize, secs: u64) -> Result<(), String> {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections {
        let (url, done) = (url.clone(), Arc::clone(&done));
        tasks.spawn(async move {
            let (mut sock, _) = tokio_tungstenite::connect_async(url)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let text = format!("bench message from connection {c}");
            while Instant::now() < until {
                sock.send(Message::text(text.clone()))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                match sock.next().await {
                    Some(Ok(Message::Text(t))) if t.as_str() == text => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    other => return Err(format!("unexpected echo {other:?}")),
                }
            }
            let _ = sock.close(None).await;
            Ok::<(), String>(())
        });
    }
    let started = Instant::now();
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("messages/s {rate:.0}");
    Ok(())
}

async fn one_request(mut s: TcpStream) -> bool {
    if s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf)).await;
    matches!(read, Ok(Ok(n)) if n >= 12 && &buf[..12] == b"HTTP/1.1 200")
}

async fn burst(addr: SocketAddr, connections: usize, idle: u64) -> Result<(), String> {
    let mut conns = Vec::with_capacity(connections);
    let mut failures = 0u64;
    for _ in 0..connections {
        match TcpStream::connect(addr).await {
            Ok(s) => conns.push(s),
            Err(_) => failures += 1,
        }
    }
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for s in conns {
        tasks.spawn(one_request(s));
    }
    while let Some(ok) = tasks.join_next().await {
        if !ok.unwrap_or(false) {
            failures += 1;
        }
    }
    println!("failures {failures}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edge-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let num = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let result = match (args.first().map(String::as_str), num(2), num(3)) {
        (Some("ws"), Some(c), Some(s)) => rt.block_on(ws(args[1].clone(), c as usize, s)),
        (Some("burst"), Some(c), Some(idle)) => match args[1].parse() {
            Ok(addr) => rt.block_on(burst(addr, c as usize, idle)),
            Err(e) => Err(format!("address {}: {e}", args[1])),
        },
        _ => Err(
            "usage: edge-bench ws URL CONNECTIONS SECONDS | burst ADDR CONNECTIONS IDLE_SECONDS"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edge-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
