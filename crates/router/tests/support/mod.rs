//! Test fixtures: an in-process upstream on 127.0.0.1 that can be killed abruptly, a
//! client, route builders and a bounded load generator.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gantry_router::{Backend, ServiceRoute};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// An upstream answering `GET /` with 200 and `x-version: NAME`, `/status/N` with N,
/// `/delay/MS` after MS milliseconds, `/sink` with the number of body bytes; every response echoes the request (method, path,
/// `x-forwarded-for`, `via` as headers, body as body).
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
    hits: Arc<AtomicU64>,
    kill: Option<oneshot::Sender<()>>,
}

impl Upstream {
    pub async fn start(name: &str) -> Upstream {
        Self::start_with_delay(name, Duration::ZERO).await
    }

    /// `delay` is added to every request (to keep requests in flight).
    pub async fn start_with_delay(name: &str, delay: Duration) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let (kill, mut killed) = oneshot::channel::<()>();
        let (name2, hits2) = (name.to_string(), Arc::clone(&hits));
        tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    Ok((stream, _)) = listener.accept() => {
                        let (name, hits) = (name2.clone(), Arc::clone(&hits2));
                        let svc = service_fn(move |req| answer(name.clone(), Arc::clone(&hits), delay, req));
                        conns.spawn(async move {
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                        });
                    }
                    _ = &mut killed => break,
                }
            }
            // Dropping the listener and aborting every connection: like a crashed process.
            drop(listener);
            conns.abort_all();
        });
        Upstream {
            name: name.to_string(),
            addr,
            hits,
            kill: Some(kill),
        }
    }

    /// Requests this upstream has received.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Closes the listener and every connection at once, mid-request or not.
    pub fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
    }

    pub fn backend(&self, weight: u32, ready: bool) -> Backend {
        Backend {
            version: self.name.clone(),
            instance: format!("{}@{}", self.name, self.addr.port()),
            addr: self.addr,
            weight,
            ready,
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn answer(
    name: String,
    hits: Arc<AtomicU64>,
    delay: Duration,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    hits.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    // An upload sink: answers how many body bytes arrived.
    let body = if path == "/sink" {
        Bytes::from(body.len().to_string())
    } else {
        body
    };
    let mut status = 200;
    if let Some(code) = path.strip_prefix("/status/") {
        status = code.parse().unwrap();
    }
    let mut wait = delay;
    if let Some(ms) = path.strip_prefix("/delay/") {
        wait += Duration::from_millis(ms.parse().unwrap());
    }
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let resp = Response::builder()
        .status(status)
        .header("x-version", &name)
        .header("x-echo-method", parts.method.as_str())
        .header("x-echo-path", parts.uri.to_string())
        .header("x-echo-xff", header("x-forwarded-for"))
        .header("x-echo-via", header("via"))
        .header("x-echo-host", header("host"))
        .header("x-echo-xfp", header("x-forwarded-proto"))
        .header("x-echo-xfh", header("x-forwarded-host"))
        .body(Full::new(body))
        .unwrap();
    Ok(resp)
}

pub fn route(listen: SocketAddr, backends: Vec<Backend>) -> ServiceRoute {
    ServiceRoute {
        listen,
        backends,
        emergency_stop: false,
    }
}

/// A router (one worker thread) serving `web` on a free port with `settings`, all
/// traffic to `upstream` as version `version`.
pub fn one_backend(
    upstream: SocketAddr,
    version: &str,
    settings: gantry_router::ServiceConfig,
) -> (gantry_router::Router, SocketAddr) {
    let router = gantry_router::Router::with_config(gantry_router::RouterConfig {
        workers: 1,
        ..gantry_router::RouterConfig::default()
    });
    let addr = router
        .serve_with("web", ([127, 0, 0, 1], 0).into(), settings)
        .unwrap()
        .local_addr();
    let backend = Backend {
        version: version.into(),
        instance: format!("{version}-1"),
        addr: upstream,
        weight: 100,
        ready: true,
    };
    router.update("web", route(addr, vec![backend]));
    (router, addr)
}

/// A free loopback address nobody listens on (connections to it are refused).
pub fn dead_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub type Client = HyperClient<HttpConnector, Full<Bytes>>;

pub fn client() -> Client {
    HyperClient::builder(TokioExecutor::new()).build_http()
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

pub async fn send(
    c: &Client,
    method: &str,
    addr: SocketAddr,
    path: &str,
    body: &str,
) -> Result<Reply, String> {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = c.request(req).await.map_err(|e| format!("{e:?}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

pub async fn get(c: &Client, addr: SocketAddr, path: &str) -> Result<Reply, String> {
    send(c, "GET", addr, path, "").await
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub failures: Vec<String>,
    pub by_version: std::collections::BTreeMap<String, u64>,
}

/// `tasks` clients sending `GET /` to `addr` until `duration` has passed. A failure is a
/// connection error or any non-200 status.
pub async fn load(addr: SocketAddr, tasks: usize, duration: Duration) -> LoadReport {
    let deadline = Instant::now() + duration;
    let mut set = JoinSet::new();
    for _ in 0..tasks {
        set.spawn(async move {
            let c = client();
            let mut report = LoadReport::default();
            while Instant::now() < deadline {
                match get(&c, addr, "/").await {
                    Ok(r) if r.status == 200 => {
                        report.ok += 1;
                        *report
                            .by_version
                            .entry(r.header("x-version").to_string())
                            .or_default() += 1;
                    }
                    Ok(r) => {
                        report
                            .failures
                            .push(format!("status {}: {}", r.status, r.body.trim()))
                    }
                    Err(e) => report.failures.push(e),
                }
            }
            report
        });
    }
    let mut total = LoadReport::default();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        total.ok += r.ok;
        total.failures.extend(r.failures);
        for (v, n) in r.by_version {
            *total.by_version.entry(v).or_default() += n;
        }
    }
    total
}
