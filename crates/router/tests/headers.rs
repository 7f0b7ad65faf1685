//! Issue 9, headers: what the router tells the upstream about the client, and requests
//! it refuses itself.

mod support;

use std::time::Duration;

use gantry_router::{Router, RouterConfig};
use support::{Upstream, route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_forwarded_headers_and_a_missing_host() {
    let router = Router::with_config(RouterConfig {
        workers: 1,
        ..RouterConfig::default()
    });
    let addr = router
        .serve("web", ([127, 0, 0, 1], 0).into())
        .unwrap()
        .local_addr();
    let upstream = Upstream::start("v1").await;
    router.update("web", route(addr, vec![upstream.backend(100, true)]));

    let text = exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Proto: https\r\n\
         X-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-echo-xfp: http\r\n"), "{text}");
    assert!(text.contains("x-echo-xfh: shop.example\r\n"), "{text}");
    assert!(text.contains("x-echo-host: shop.example\r\n"), "{text}");

    let text = exchange(addr, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("without a Host header"), "{text}");
    assert_eq!(
        upstream.hits(),
        1,
        "the Host-less request never reached the upstream"
    );
    assert_eq!(router.totals()[0].client_errors, 1);

    // HTTP/1.0 may omit Host: the router supplies the backend's.
    let text = exchange(addr, "GET / HTTP/1.0\r\n\r\n").await;
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    router.shutdown().await;
}
