//! The demo app's HTTP/1.1 server: `/` names the version, `/health` answers readiness,
//! `POST /upload` reads a body and says how many bytes came, `GET /slow/MS` answers after
//! MS milliseconds, `GET /events` streams server-sent events, `GET /ws` echoes WebSocket
//! messages (see [`crate::stream`]), and the flags in [`Args`] inject errors, latency, failed readiness and crashes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rand::RngExt;
use tokio::net::TcpListener;

use crate::args::Args;
use crate::stream::{AppBody, events, wants_websocket, websocket};

/// How long in-flight requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn run(args: Args) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port))).await?;
    println!("listening on {}", listener.local_addr()?);

    if let Some(after) = args.crash_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            eprintln!("demo-app: crashing on purpose after {after:?}");
            std::process::exit(1);
        });
    }

    // Readiness is counted from here, once the port is bound (a slow start, as an app
    // warming caches would have).
    let ready_at = Instant::now() + args.ready_after;
    let args = Arc::new(args);
    let graceful = GracefulShutdown::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // hyper-util's builder: its connection with upgrades (for `/ws`) can still be shut
    // down gracefully.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).keep_alive(true);

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        eprintln!("demo-app: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let args = Arc::clone(&args);
                let service = service_fn(move |req| respond(Arc::clone(&args), ready_at, req));
                let conn = graceful.watch(
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned(),
                );
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("demo-app: gave up waiting for in-flight requests after {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// The upload sink: reads the whole body and says how much arrived.
async fn upload(req: Request<Incoming>) -> (StatusCode, String) {
    match req.into_body().collect().await {
        Ok(body) => (
            StatusCode::OK,
            format!("received {} bytes\n", body.to_bytes().len()),
        ),
        Err(e) => (StatusCode::BAD_REQUEST, format!("upload failed: {e}\n")),
    }
}

/// A slow response: `/slow/MS` answers after MS milliseconds.
async fn slow(ms: &str) -> (StatusCode, String) {
    match ms.parse::<u64>() {
        Ok(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (StatusCode::OK, format!("slept {ms}ms\n"))
        }
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "use /slow/MILLISECONDS\n".to_string(),
        ),
    }
}

async fn respond(
    args: Arc<Args>,
    ready_at: Instant,
    req: Request<Incoming>,
) -> Result<Response<AppBody>, Infallible> {
    let is_read = req.method() == Method::GET || req.method() == Method::HEAD;
    let path = req.uri().path().to_string();
    let streamed = match path.as_str() {
        "/ws" if is_read && wants_websocket(&req) => Ok(websocket(req)),
        "/events" if is_read => events(&args.version, req.uri().query()),
        _ => Err(req),
    };
    let (status, body) = match streamed {
        Ok(mut resp) => {
            if let Ok(v) = args.version.parse() {
                resp.headers_mut().insert("x-version", v);
            }
            return Ok(resp);
        }
        Err(req) => answer(&args, ready_at, req).await,
    };
    let response = Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-version", args.version.as_str())
        .body(Full::new(Bytes::from(body)).boxed())
        .unwrap_or_else(|_| {
            Response::new(Full::new(Bytes::from_static(b"bad version header\n")).boxed())
        });
    Ok(response)
}

/// The short answers: status and text.
async fn answer(args: &Args, ready_at: Instant, req: Request<Incoming>) -> (StatusCode, String) {
    let is_read = req.method() == Method::GET || req.method() == Method::HEAD;
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/upload" if req.method() == Method::POST => upload(req).await,
        p if is_read && p.starts_with("/slow/") => slow(&p["/slow/".len()..]).await,
        p if is_read && p.starts_with("/alloc/") => crate::load::alloc(&p["/alloc/".len()..]),
        p if is_read && p.starts_with("/burn/") => crate::load::burn(&p["/burn/".len()..]).await,
        "/health" if is_read => {
            if args.fail_readiness || Instant::now() < ready_at {
                (StatusCode::SERVICE_UNAVAILABLE, "not ready\n".to_string())
            } else {
                (StatusCode::OK, "ok\n".to_string())
            }
        }
        "/" if is_read => {
            if !args.latency.is_zero() {
                tokio::time::sleep(args.latency).await;
            }
            if args.error_rate > 0.0 && rand::rng().random_bool(args.error_rate) {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("demo-app {} injected error\n", args.version),
                )
            } else {
                (StatusCode::OK, format!("demo-app {}\n", args.version))
            }
        }
        "/" | "/health" => (StatusCode::METHOD_NOT_ALLOWED, "use GET\n".to_string()),
        _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
    }
}
