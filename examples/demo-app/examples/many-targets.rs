//! Probe targets for `bench/monitor-scale.sh`: `many-targets BASE_PORT COUNT` listens on
//! 127.0.0.1:BASE_PORT .. BASE_PORT+COUNT-1 and answers every `GET` with `200 ok`.
//!
//! One port per target, not one path per target on a single port: each target then has
//! its own connections, as distinct endpoints do, so a prober cannot look cheap by sharing
//! one keep-alive pool across all of them. One thread, so the targets take at most one
//! core from the probers being measured. Prints `listening COUNT` once every port is bound.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn answer(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
}

async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}

async fn run(base: u16, count: u16) -> Result<(), String> {
    let mut listeners = Vec::with_capacity(usize::from(count));
    for i in 0..count {
        let port = base
            .checked_add(i)
            .ok_or_else(|| format!("port {base} + {i} is past 65535"))?;
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
        listeners.push(listener);
    }
    println!("listening {count}");
    let mut tasks = tokio::task::JoinSet::new();
    for l in listeners {
        tasks.spawn(serve(l));
    }
    while tasks.join_next().await.is_some() {}
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(base), Some(count)) = (
        args.first().and_then(|a| a.parse::<u16>().ok()),
        args.get(1).and_then(|a| a.parse::<u16>().ok()),
    ) else {
        eprintln!("usage: many-targets BASE_PORT COUNT");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("many-targets: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(base, count)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("many-targets: {e}");
            ExitCode::FAILURE
        }
    }
}
