//! Issue 9, timeouts and client faults: each limit of a listener's [`ServiceConfig`]
//! against real sockets on 127.0.0.1, and faults of the client's own making answered
//! 400/408 and counted apart from the version's error rate.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gantry_router::{Router, RouterConfig, ServiceConfig};
use support::{Upstream, route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn any_port() -> SocketAddr {
    ([127, 0, 0, 1], 0).into()
}

fn router() -> Router {
    Router::with_config(RouterConfig {
        workers: 1,
        ..RouterConfig::default()
    })
}

/// Serves `web` with `settings` in front of `upstream`.
fn serve(router: &Router, settings: ServiceConfig, upstream: &Upstream) -> SocketAddr {
    let addr = router
        .serve_with("web", any_port(), settings)
        .unwrap()
        .local_addr();
    router.update("web", route(addr, vec![upstream.backend(100, true)]));
    addr
}

/// Reads until the peer closes (or `limit` passes): everything it sent.
async fn read_all(s: &mut TcpStream, limit: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Waits until `f` holds, polling, or panics naming `what`.
async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An upstream that accepts, reads whatever comes and never answers.
async fn silent_upstream() -> SocketAddr {
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_an_upstream_that_never_answers_gets_504_after_the_configured_time() {
    let router = router();
    let upstream = Upstream::start("v1").await;
    let settings = ServiceConfig {
        response_header_timeout: Duration::from_millis(700),
        ..ServiceConfig::default()
    };
    let addr = serve(&router, settings, &upstream);
    let silent = silent_upstream().await;
    let mut backend = upstream.backend(100, true);
    backend.addr = silent;
    router.update("web", route(addr, vec![backend]));

    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let text = read_all(&mut s, Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert_eq!(status_of(&text), 504, "{text}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "answered after {took:?}"
    );
    assert!(
        !text.contains(&silent.to_string()),
        "internal address leaked: {text}"
    );
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!(
        (w.requests, w.errors_5xx),
        (1, 1),
        "the version's own timeout counts"
    );
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_client_that_stops_sending_its_body_gets_408_and_the_version_is_not_blamed() {
    let router = router();
    let upstream = Upstream::start("v1").await;
    let settings = ServiceConfig {
        client_body_timeout: Duration::from_millis(300),
        ..ServiceConfig::default()
    };
    let addr = serve(&router, settings, &upstream);
    // Small (buffered) and large (streamed) bodies take different paths.
    for declared in [100usize, 1_000_000] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = format!("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {declared}\r\n\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&[b'x'; 10]).await.unwrap();
        let started = Instant::now();
        let text = read_all(&mut s, Duration::from_secs(10)).await;
        assert_eq!(status_of(&text), 408, "{declared}: {text}");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
    let totals = &router.totals()[0];
    assert_eq!(totals.client_errors, 2, "{totals:?}");
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!(
        (w.requests, w.errors_5xx, w.upstream_errors),
        (0, 0, 0),
        "{w:?}"
    );
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_aborted_uploads_and_bad_chunks_are_client_errors() {
    let router = router();
    let upstream = Upstream::start("v1").await;
    let addr = serve(&router, ServiceConfig::default(), &upstream);

    // A bad chunk-size line: 400 for the client.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /sink HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
    )
    .await
    .unwrap();
    let text = read_all(&mut s, Duration::from_secs(10)).await;
    assert_eq!(status_of(&text), 400, "{text}");

    // Uploads abandoned halfway, buffered and streamed: the client is gone.
    for declared in [1000usize, 1_000_000] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let head = format!("POST /sink HTTP/1.1\r\nHost: t\r\nContent-Length: {declared}\r\n\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&vec![b'x'; declared / 2]).await.unwrap();
        drop(s);
    }
    until("three client errors", 10, || {
        router.totals()[0].client_errors == 3
    })
    .await;
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!((w.errors_5xx, w.upstream_errors), (0, 0), "{w:?}");

    // A good request still works and is the version's only one.
    let r = support::send(&support::client(), "POST", addr, "/sink", "abc")
        .await
        .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "3"));
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!((w.requests, w.errors_5xx), (1, 0), "{w:?}");
    router.shutdown().await;
}

/// Sends `size` bytes to `/sink` at about `rate` bytes/s, in 10 KB writes.
async fn upload(addr: SocketAddr, size: usize, rate: usize) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /sink HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'u'; 10 * 1024];
    let started = Instant::now();
    let mut sent = 0;
    while sent < size {
        let n = chunk.len().min(size - sent);
        s.write_all(&chunk[..n]).await.unwrap();
        sent += n;
        // Paced against the clock (not a fixed sleep per chunk), so the rate holds.
        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    read_all(&mut s, Duration::from_secs(30)).await
}

/// A slow upload outlasting the response-header timeout many times over still succeeds:
/// that timer starts when the body is in, and the body timer is between reads.
async fn slow_upload_succeeds(size: usize, rate: usize) {
    let router = router();
    let upstream = Upstream::start("v1").await;
    let settings = ServiceConfig {
        response_header_timeout: Duration::from_millis(500),
        client_body_timeout: Duration::from_secs(1),
        ..ServiceConfig::default()
    };
    let addr = serve(&router, settings, &upstream);
    let started = Instant::now();
    let text = upload(addr, size, rate).await;
    assert_eq!(status_of(&text), 200, "{text}");
    assert!(text.ends_with(&format!("\r\n\r\n{size}")), "{text}");
    assert!(started.elapsed() > Duration::from_secs(2));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_7mb_upload_slower_than_every_timeout_succeeds() {
    // 7 MB at 2.8 MB/s: 2.5 s, five times the response-header timeout.
    slow_upload_succeeds(7 * 1024 * 1024, 2800 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "35 s: the issue's full-length run (7 MB at 200 KB/s); the test above covers the same path at 14x the rate"]
async fn issue9_a_7mb_upload_at_200kb_per_second_succeeds() {
    slow_upload_succeeds(7 * 1024 * 1024, 200 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_connections_past_the_cap_get_503_and_are_counted() {
    let router = router();
    let upstream = Upstream::start("v1").await;
    let settings = ServiceConfig {
        max_connections: 2,
        ..ServiceConfig::default()
    };
    let addr = serve(&router, settings, &upstream);
    let a = TcpStream::connect(addr).await.unwrap();
    let mut b = TcpStream::connect(addr).await.unwrap();
    // Both are being served (a request on b answers) before the third arrives.
    b.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = b.read(&mut buf).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);

    let mut c = TcpStream::connect(addr).await.unwrap();
    let text = read_all(&mut c, Duration::from_secs(10)).await;
    assert_eq!(status_of(&text), 503, "{text}");
    assert_eq!(router.totals()[0].over_capacity, 1);

    drop((a, b));
    // Once a slot is free, a new connection is served again.
    let c = support::client();
    let mut ok = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok && Instant::now() < deadline {
        ok = support::get(&c, addr, "/")
            .await
            .is_ok_and(|r| r.status == 200);
        if !ok {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(ok, "no connection was served after the others closed");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_idle_keepalive_connections_and_slow_heads_are_closed() {
    let router = router();
    let upstream = Upstream::start("v1").await;
    let settings = ServiceConfig {
        keepalive_timeout: Duration::from_millis(400),
        client_header_timeout: Duration::from_millis(600),
        ..ServiceConfig::default()
    };
    let addr = serve(&router, settings, &upstream);

    // One request, then silence: closed after the keep-alive timeout.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&buf[..n])), 200);
    let idle = Instant::now();
    let rest = read_all(&mut s, Duration::from_secs(10)).await;
    assert!(rest.is_empty(), "{rest}");
    let took = idle.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );

    // Half a head: the header timeout, counted from its first byte, not the keep-alive.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    let started = Instant::now();
    let rest = read_all(&mut s, Duration::from_secs(10)).await;
    assert!(!rest.contains("200 OK"), "{rest}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    router.shutdown().await;
}

/// An upstream that answers with a chunked head and one chunk, then stalls.
async fn stalling_upstream() -> SocketAddr {
    let l = TcpListener::bind(any_port()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                    )
                    .await;
                let _ = s.read(&mut buf).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_stalled_response_body_is_cut_off_as_the_versions_error() {
    let router = router();
    let upstream = Upstream::start("v1").await;
    let settings = ServiceConfig {
        upstream_body_timeout: Duration::from_millis(300),
        ..ServiceConfig::default()
    };
    let addr = serve(&router, settings, &upstream);
    let mut backend = upstream.backend(100, true);
    backend.addr = stalling_upstream().await;
    router.update("web", route(addr, vec![backend]));

    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let text = read_all(&mut s, Duration::from_secs(10)).await;
    assert!(text.contains("hello"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "the cut-off body must not look complete: {text}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!(w.upstream_errors, 1, "{w:?}");
    router.shutdown().await;
}
