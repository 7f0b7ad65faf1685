//! The router's own HTTP/1.1 path (`h1`): pipelining, every response framing a backend
//! may use, a connection moving to the hyper path mid-way, backends closing idle
//! connections, and draining — a raw scripted upstream, so each framing is exact, and one
//! client connection per test, so keep-alive is part of what is checked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gantry_router::{Router, ServiceConfig};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod support;
use support::one_backend;

/// What the scripted upstream answers for `path` (`conn` and `n` number its connection
/// and the request on it). `None`: answer, then close the connection.
fn script(method: &str, path: &str, conn: u64, n: u64) -> (String, bool) {
    let keep = true;
    match path {
        "/chunked" => (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".into(),
            keep,
        ),
        "/to-close" => ("HTTP/1.1 200 OK\r\n\r\nuntil the end".into(), false),
        "/interim" => (
            "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nhinted!".into(),
            keep,
        ),
        "/empty" => ("HTTP/1.1 204 No Content\r\n\r\n".into(), keep),
        "/big" => {
            let body = "b".repeat(300_000);
            (
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
                keep,
            )
        }
        _ if method == "HEAD" => ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".into(), keep),
        _ => {
            let body = format!("{conn}:{n}");
            (
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
                keep,
            )
        }
    }
}

/// A raw keep-alive upstream answering by [`script`]; with `close_idle_after`, it closes
/// each connection that long after an answer (as servers with short keep-alive do).
async fn upstream(close_idle_after: Option<Duration>) -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&conns);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let conn = counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut n = 0;
                loop {
                    let end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        let read = match close_idle_after {
                            Some(d) if !buf.is_empty() || n > 0 => {
                                match tokio::time::timeout(d, s.read(&mut chunk)).await {
                                    Ok(r) => r,
                                    Err(_) => return,
                                }
                            }
                            _ => s.read(&mut chunk).await,
                        };
                        match read {
                            Ok(0) | Err(_) => return,
                            Ok(r) => buf.extend_from_slice(&chunk[..r]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    // A chunked body (the test's uploads are one chunk) ends at its last chunk.
                    let chunked = head
                        .to_ascii_lowercase()
                        .contains("transfer-encoding: chunked");
                    let body_end = |buf: &[u8]| {
                        if chunked {
                            let rest = buf.get(end..)?;
                            let i = rest.windows(5).position(|w| w == b"0\r\n\r\n")?;
                            Some(end + i + 5)
                        } else {
                            (buf.len() >= end + length).then_some(end + length)
                        }
                    };
                    let whole = loop {
                        if let Some(whole) = body_end(&buf) {
                            break whole;
                        }
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(r) => buf.extend_from_slice(&chunk[..r]),
                        }
                    };
                    buf.drain(..whole);
                    n += 1;
                    let mut words = head.split(' ');
                    let (method, path) = (words.next().unwrap(), words.next().unwrap());
                    let (reply, keep) = script(method, path, conn, n);
                    if s.write_all(reply.as_bytes()).await.is_err() || !keep {
                        return;
                    }
                }
            });
        }
    });
    (addr, conns)
}

fn router_to(upstream: SocketAddr) -> (Router, SocketAddr) {
    one_backend(upstream, "v1", ServiceConfig::default())
}

type Sender = http1::SendRequest<Full<Bytes>>;

/// One client connection (hyper's, which parses every framing strictly).
async fn connection(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

async fn call(
    s: &mut Sender,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, hyper::HeaderMap) {
    s.ready().await.expect("the connection is still open");
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "shop");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp: Response<hyper::body::Incoming> = s
        .send_request(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status.as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
        parts.headers,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_framing_reaches_the_client_on_one_kept_connection() {
    let (up, _) = upstream(None).await;
    let (router, addr) = router_to(up);
    let mut c = connection(addr).await;
    let (status, body, h) = call(&mut c, "GET", "/chunked", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "hello world"));
    assert_eq!(h["via"], "1.1 gantry");
    let (status, body, _) = call(&mut c, "GET", "/interim", &[], "").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "hinted!"),
        "a 103 is skipped"
    );
    let (status, body, h) = call(&mut c, "HEAD", "/x", &[], "").await;
    assert_eq!(
        (status, body.as_str(), h["content-length"].to_str().unwrap()),
        (200, "", "5")
    );
    let (status, body, _) = call(&mut c, "GET", "/empty", &[], "").await;
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, body, _) = call(&mut c, "GET", "/big", &[], "").await;
    assert_eq!((status, body.len()), (200, 300_000), "a streamed body");
    let (status, body, h) = call(&mut c, "GET", "/to-close", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "until the end"));
    assert_eq!(
        h["transfer-encoding"], "chunked",
        "re-framed for a kept connection"
    );
    let (status, body, _) = call(&mut c, "POST", "/", &[], "some body").await;
    assert_eq!(status, 200, "{body}");
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!(
        (w.requests, w.errors_5xx, w.upstream_errors),
        (7, 0, 0),
        "{w:?}"
    );
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_over_one_backend_connection() {
    let (up, conns) = upstream(None).await;
    let (router, addr) = router_to(up);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let one = "GET /a HTTP/1.1\r\nHost: shop\r\n\r\n";
    s.write_all(format!("{one}{one}{one}").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while text.matches("HTTP/1.1 200 OK").count() < 3 || !text.ends_with(":3") {
        assert!(Instant::now() < deadline, "{text}");
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let bodies: Vec<&str> = text.split("\r\n\r\n").skip(1).map(|b| &b[..3]).collect();
    assert_eq!(bodies, ["1:1", "1:2", "1:3"], "{text}");
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_fast_path_does_not_take_moves_the_connection_to_the_hyper_path() {
    let (up, _) = upstream(None).await;
    let (router, addr) = router_to(up);
    let mut c = connection(addr).await;
    assert_eq!(call(&mut c, "GET", "/", &[], "").await.0, 200);
    // Chunked upload: hyper's path from here on, on the same connection.
    let (status, _, h) = call(
        &mut c,
        "POST",
        "/",
        &[("transfer-encoding", "chunked")],
        "streamed",
    )
    .await;
    assert_eq!((status, h["via"].to_str().unwrap()), (200, "1.1 gantry"));
    let (status, body, _) = call(&mut c, "GET", "/chunked", &[], "").await;
    assert_eq!((status, body.as_str()), (200, "hello world"));
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!((w.requests, w.errors_5xx), (3, 0), "{w:?}");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_closing_idle_connections_costs_no_request_of_any_method() {
    let (up, conns) = upstream(Some(Duration::from_millis(50))).await;
    let (router, addr) = router_to(up);
    let mut c = connection(addr).await;
    for method in ["GET", "POST", "PUT", "POST"] {
        let (status, body, _) = call(&mut c, method, "/", &[], "x").await;
        assert_eq!(status, 200, "{method}: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        conns.load(Ordering::SeqCst),
        4,
        "each closed connection was replaced"
    );
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!(
        (w.requests, w.errors_5xx, w.upstream_errors),
        (4, 0, 0),
        "{w:?}"
    );
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_closes_at_once_when_the_listener_stops() {
    let (up, _) = upstream(None).await;
    let (router, addr) = router_to(up);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    router.stop("web").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop waited {:?} for an idle connection",
        started.elapsed()
    );
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the idle connection was closed");
}
