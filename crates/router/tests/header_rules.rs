//! Issue 9, header rules: trusted proxies decide whether a client's `X-Forwarded-For` is
//! kept, RFC 7239 `Forwarded` on request, an upstream's conflicting framing sanitised, and
//! header count/size limits — raw TCP clients and upstreams, so the bytes are the test.

use std::net::SocketAddr;
use std::time::Duration;

use gantry_router::{Router, ServiceConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod support;
use support::one_backend;

/// An upstream on raw TCP: reads each request head and answers with what `answer` makes
/// of it, then closes the connection.
async fn raw_upstream(answer: fn(&str) -> String) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = answer(&String::from_utf8_lossy(&head));
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Answers with the request head it got as the body.
fn echo_head(head: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        head.len()
    )
}

async fn router_for(settings: ServiceConfig, upstream: SocketAddr) -> (Router, SocketAddr) {
    one_backend(upstream, "v1", settings)
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of header `name` in the upstream's view (the echoed head).
fn seen(text: &str, name: &str) -> Option<String> {
    let body = text.split_once("\r\n\r\n")?.1;
    body.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

const SPOOFED: &[u8] = b"GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 6.6.6.6\r\n\
    Forwarded: for=6.6.6.6\r\nConnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_an_untrusted_clients_forwarded_for_is_replaced() {
    let upstream = raw_upstream(echo_head).await;
    let (router, addr) = router_for(ServiceConfig::default(), upstream).await;
    let text = exchange(addr, SPOOFED).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(seen(&text, "x-forwarded-for").as_deref(), Some("127.0.0.1"));
    // Not enabled: the client's own Forwarded passes untouched, none is added.
    assert_eq!(seen(&text, "forwarded").as_deref(), Some("for=6.6.6.6"));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_trusted_proxys_forwarded_for_is_appended_to() {
    let upstream = raw_upstream(echo_head).await;
    let settings = ServiceConfig {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        forwarded: true,
        ..ServiceConfig::default()
    };
    let (router, addr) = router_for(settings, upstream).await;
    let text = exchange(addr, SPOOFED).await;
    assert_eq!(
        seen(&text, "x-forwarded-for").as_deref(),
        Some("6.6.6.6, 127.0.0.1"),
        "{text}"
    );
    assert_eq!(
        seen(&text, "forwarded").as_deref(),
        Some("for=6.6.6.6, for=127.0.0.1;proto=http;host=\"shop.example\""),
        "{text}"
    );
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_forwarded_replaces_an_untrusted_clients_own() {
    let upstream = raw_upstream(echo_head).await;
    let settings = ServiceConfig {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        forwarded: true,
        ..ServiceConfig::default()
    };
    let (router, addr) = router_for(settings, upstream).await;
    let text = exchange(addr, SPOOFED).await;
    assert_eq!(
        seen(&text, "forwarded").as_deref(),
        Some("for=127.0.0.1;proto=http;host=\"shop.example\""),
        "{text}"
    );
    assert_eq!(seen(&text, "x-forwarded-for").as_deref(), Some("127.0.0.1"));
    router.shutdown().await;
}

/// Both a (wrong) Content-Length and chunked framing: RFC 9112 §6.3 says the chunks frame
/// it; a length passed on would make the client read 5 bytes and take the rest as the
/// next response.
fn conflicting_framing(_: &str) -> String {
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\
     Connection: close\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_response_with_length_and_chunks_is_sanitised() {
    let upstream = raw_upstream(conflicting_framing).await;
    let (router, addr) = router_for(ServiceConfig::default(), upstream).await;
    let text = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(!head.contains("content-length: 5"), "{text}");
    // However the router frames it, the client reads all 11 bytes as the body.
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        assert!(head.contains("content-length: 11"), "{text}");
        body.to_string()
    };
    assert_eq!(body, "hello world", "{text}");
    router.shutdown().await;
}

/// The data of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if n == 0 {
            break;
        }
        data.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    data
}

fn many_headers(_: &str) -> String {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..150 {
        head.push_str(&format!("X-Header-{i:03}: value {i}\r\n"));
    }
    head.push_str("Content-Length: 2\r\nConnection: close\r\n\r\nok");
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_response_with_150_headers_passes() {
    let upstream = raw_upstream(many_headers).await;
    let (router, addr) = router_for(ServiceConfig::default(), upstream).await;
    let text = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-header-149: value 149"), "{text}");
    assert!(text.ends_with("\r\n\r\nok"), "{text}");
    router.shutdown().await;
}

fn request_with(headers: usize, value_len: usize) -> Vec<u8> {
    let mut req = String::from("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    let value = "v".repeat(value_len);
    for i in 0..headers {
        req.push_str(&format!("X-H-{i}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_a_request_past_the_header_limits_gets_431() {
    let upstream = raw_upstream(echo_head).await;
    let settings = ServiceConfig {
        max_request_headers: 20,
        ..ServiceConfig::default()
    };
    let (router, addr) = router_for(settings, upstream).await;
    let within = exchange(addr, &request_with(15, 10)).await;
    assert!(within.starts_with("HTTP/1.1 200"), "{within}");
    let many = exchange(addr, &request_with(30, 10)).await;
    assert!(many.starts_with("HTTP/1.1 431"), "{many}");
    // 40 headers of 1 KiB: past the default 32 KiB head (count raised out of the way).
    let (router2, addr2) = router_for(
        ServiceConfig {
            max_request_headers: 200,
            ..ServiceConfig::default()
        },
        upstream,
    )
    .await;
    let big = exchange(addr2, &request_with(40, 1024)).await;
    assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    let fits = exchange(addr2, &request_with(20, 1024)).await;
    assert!(fits.starts_with("HTTP/1.1 200"), "{fits}");
    router.shutdown().await;
    router2.shutdown().await;
}
