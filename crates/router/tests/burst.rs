//! Issue 9, bursts: 2 000 concurrent keep-alive connections, idle 10 s, then one request
//! each, through the router to one instance: no failures. Before issue 9, 823 of them got
//! 502 (a 1 s connect timeout against dropped SYNs, and a connection per request).

mod support;

use std::time::{Duration, Instant};

use gantry_router::{Router, RouterConfig};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use support::{Upstream, route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 2000;
/// Client, router and upstream ends of every connection, with room for the rest.
const FDS_NEEDED: u64 = 3 * CONNECTIONS as u64 + 1000;

/// Raises the soft file-descriptor limit to what the test needs, if the hard one allows.
fn enough_descriptors() -> Result<(), String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    if soft >= FDS_NEEDED {
        return Ok(());
    }
    if hard < FDS_NEEDED {
        return Err(format!(
            "`ulimit -n` hard limit {hard} is below the {FDS_NEEDED} descriptors needed"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, FDS_NEEDED, hard).map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_2000_idle_keepalive_connections_then_one_request_each_all_succeed() {
    if let Err(reason) = enough_descriptors() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test: {reason}"
        );
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let router = Router::with_config(RouterConfig::default());
    let addr = router
        .serve("web", ([127, 0, 0, 1], 0).into())
        .unwrap()
        .local_addr();
    let upstream = Upstream::start("v1").await;
    router.update("web", route(addr, vec![upstream.backend(100, true)]));

    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let s = TcpStream::connect(addr)
            .await
            .expect("connect to the router");
        conns.push(s);
    }
    tokio::time::sleep(Duration::from_secs(10)).await;

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut s in conns {
        tasks.spawn(async move {
            s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            loop {
                let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err(format!("closed after {:?}", String::from_utf8_lossy(&got)));
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    if !head.starts_with("HTTP/1.1 200") {
                        return Err(head.lines().next().unwrap_or_default().to_string());
                    }
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if body.len() >= len {
                        return Ok(());
                    }
                }
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r.unwrap() {
            failures.push(e);
        }
    }
    eprintln!("{CONNECTIONS} requests answered in {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} failures, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let totals = &router.totals()[0];
    assert_eq!(
        totals.versions[0].counts.status.s2xx, CONNECTIONS as u64,
        "{totals:?}"
    );
    assert_eq!((totals.over_capacity, totals.queue_timeouts), (0, 0));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue9_requests_queue_for_a_backend_connection_and_get_503_only_past_the_deadline() {
    use gantry_router::ServiceConfig;
    let router = Router::with_config(RouterConfig {
        workers: 1,
        ..RouterConfig::default()
    });
    let settings = ServiceConfig {
        backend_connections: 1,
        queue_timeout: Duration::from_millis(300),
        ..ServiceConfig::default()
    };
    let addr = router
        .serve_with("web", ([127, 0, 0, 1], 0).into(), settings)
        .unwrap()
        .local_addr();
    let upstream = Upstream::start("v1").await;
    router.update("web", route(addr, vec![upstream.backend(100, true)]));
    let c = support::client();

    // Two quick requests share the one connection, one after the other.
    let (a, b) = tokio::join!(
        support::get(&c, addr, "/delay/100"),
        support::get(&c, addr, "/delay/100")
    );
    assert_eq!((a.unwrap().status, b.unwrap().status), (200, 200));

    // A second request behind a slow one waits 300 ms, then 503 with Retry-After.
    let (slow, queued) = tokio::join!(support::get(&c, addr, "/delay/1000"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        support::get(&c, addr, "/").await
    });
    assert_eq!(slow.unwrap().status, 200);
    let queued = queued.unwrap();
    assert_eq!(queued.status, 503, "{queued:?}");
    assert_eq!(queued.header("retry-after"), "1");
    let totals = &router.totals()[0];
    assert_eq!(totals.queue_timeouts, 1);
    let w = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!(
        (w.requests, w.errors_5xx),
        (3, 0),
        "overload is not the version's error"
    );
    router.shutdown().await;
}
