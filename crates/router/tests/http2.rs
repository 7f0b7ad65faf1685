//! Issue 9, HTTP/2 inbound: a client speaking h2c with prior knowledge (hyper's own
//! HTTP/2 client) is served on the same port as HTTP/1.1 clients, its requests reach
//! HTTP/1.1 upstreams as before, and they are measured like any other request.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gantry_router::{Router, RouterConfig};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{Upstream, client, get, route};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn router() -> Router {
    Router::with_config(RouterConfig {
        workers: 1,
        ..RouterConfig::default()
    })
}

type H2 = http2::SendRequest<Full<Bytes>>;

/// One HTTP/2 connection (prior knowledge: no upgrade, no ALPN) to `addr`.
async fn h2c(addr: SocketAddr) -> H2 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("HTTP/2 handshake with the router");
    tokio::spawn(conn);
    sender
}

async fn h2_send(
    sender: &mut H2,
    method: &str,
    addr: SocketAddr,
    path: &str,
    body: &str,
) -> (u16, hyper::HeaderMap, String) {
    sender.ready().await.unwrap();
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = sender.send_request(req).await.expect("HTTP/2 response");
    assert_eq!(resp.version(), Version::HTTP_2);
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_requests_reach_an_http1_upstream() {
    let v1 = Upstream::start("v1").await;
    let router = router();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(100, true)]));

    let mut h2 = h2c(addr).await;
    let (status, headers, _) = h2_send(&mut h2, "GET", addr, "/", "").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-version"], "v1");
    // The upstream saw an HTTP/1.1 request with the client's authority as its Host.
    assert_eq!(headers["x-echo-host"], addr.to_string().as_str());
    assert_eq!(headers["x-echo-via"], "1.1 gantry");
    let (status, _, body) = h2_send(&mut h2, "POST", addr, "/", "hello over h2").await;
    assert_eq!((status, body.as_str()), (200, "hello over h2"));
    // A body larger than the replay buffer is streamed to the upstream.
    let big = "x".repeat(200 * 1024);
    let (status, _, body) = h2_send(&mut h2, "POST", addr, "/sink", &big).await;
    assert_eq!((status, body.as_str()), (200, "204800"));

    // HTTP/1.1 clients are still served on the same port.
    let r = get(&client(), addr, "/").await.unwrap();
    assert_eq!((r.status, r.header("x-version")), (200, "v1"));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_on_one_connection_are_measured_per_request() {
    let v1 = Upstream::start("v1").await;
    let router = router();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(100, true)]));

    let h2 = h2c(addr).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..40 {
        let mut h2 = h2.clone();
        let path = if i % 4 == 0 {
            "/status/503"
        } else {
            "/delay/50"
        };
        calls.spawn(async move { h2_send(&mut h2, "GET", addr, path, "").await.0 });
    }
    let mut statuses = Vec::new();
    while let Some(s) = calls.join_next().await {
        statuses.push(s.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 30);
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 10);

    let s = router.window_stats("web", "v1", Duration::from_secs(30));
    assert_eq!((s.requests, s.errors_5xx), (40, 10));
    assert!((s.error_rate - 0.25).abs() < 1e-9, "{}", s.error_rate);
    assert_eq!(v1.hits(), 40);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_h2_connection_is_drained_on_stop() {
    let v1 = Upstream::start("v1").await;
    let router = router();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(100, true)]));
    let mut h2 = h2c(addr).await;
    let mut slow = h2.clone();
    let in_flight =
        tokio::spawn(async move { h2_send(&mut slow, "GET", addr, "/delay/500", "").await.0 });
    // Wait until the slow request is at the backend, then stop the listener.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while v1.hits() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    router.stop("web").await;
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the stream in flight finished"
    );
    // GOAWAY was sent: the connection takes no new streams.
    let refused = async {
        h2.ready().await?;
        h2.send_request(
            Request::get(format!("http://{addr}/"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
    };
    assert!(
        refused.await.is_err(),
        "a drained connection accepted a new stream"
    );
}
