//! Selection and forwarding through a real router on 127.0.0.1.

mod support;

use std::time::Duration;

use gantry_router::{Router, RouterError};
use support::{Upstream, client, dead_addr, get, load, route, send};

fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_are_respected() {
    let (v1, v2) = (Upstream::start("v1").await, Upstream::start("v2").await);
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update(
        "web",
        route(addr, vec![v1.backend(90, true), v2.backend(10, true)]),
    );

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        tasks.spawn(async move {
            let c = client();
            let mut v2 = 0u32;
            for _ in 0..250 {
                let r = get(&c, addr, "/").await.unwrap();
                assert_eq!(r.status, 200);
                v2 += u32::from(r.header("x-version") == "v2");
            }
            v2
        });
    }
    let v2_hits: u32 = tasks.join_all().await.into_iter().sum();
    let share = f64::from(v2_hits) / 2000.0;
    assert!(
        (0.05..=0.15).contains(&share),
        "v2 got {share:.3} of 2000 requests, want 0.10 ± 0.05"
    );
    assert_eq!(v1.hits() + v2.hits(), 2000);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_backend_gets_no_traffic_and_its_share_goes_elsewhere() {
    let (v1a, v1b, v2) = (
        Upstream::start("v1").await,
        Upstream::start("v1").await,
        Upstream::start("v2").await,
    );
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update(
        "web",
        route(
            addr,
            vec![
                v1a.backend(50, true),
                v1b.backend(50, false),
                v2.backend(50, false),
            ],
        ),
    );
    let c = client();
    for _ in 0..200 {
        assert_eq!(get(&c, addr, "/").await.unwrap().status, 200);
    }
    assert_eq!((v1a.hits(), v1b.hits(), v2.hits()), (200, 0, 0));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ready_backend_answers_503() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    let c = client();
    let r = get(&c, addr, "/").await.unwrap();
    assert_eq!(r.status, 503, "no route yet");
    router.update("web", route(addr, vec![v1.backend(100, false)]));
    let r = get(&c, addr, "/").await.unwrap();
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, "no ready backend for service web\n")
    );
    router.update("web", route(addr, vec![v1.backend(0, true)]));
    assert_eq!(
        get(&c, addr, "/").await.unwrap().status,
        503,
        "weight 0 means no traffic"
    );
    assert_eq!(v1.hits(), 0);
    assert_eq!(router.totals()[0].no_backend, 3);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_stop_answers_503_with_retry_after() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    let mut r = route(addr, vec![v1.backend(100, true)]);
    router.update("web", r.clone());
    let c = client();
    assert_eq!(get(&c, addr, "/").await.unwrap().status, 200);

    r.emergency_stop = true;
    router.update("web", r.clone());
    let reply = get(&c, addr, "/").await.unwrap();
    assert_eq!((reply.status, reply.header("retry-after")), (503, "5"));
    assert_eq!(
        v1.hits(),
        1,
        "nothing reaches the backend during an emergency stop"
    );

    r.emergency_stop = false;
    router.update("web", r);
    assert_eq!(get(&c, addr, "/").await.unwrap().status, 200);
    assert_eq!(router.totals()[0].emergency_rejected, 1);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_method_path_headers_and_body() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(1, true)]));
    let c = client();
    let r = send(&c, "PATCH", addr, "/a/b?x=1&y=2", "hello body")
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-echo-method"), "PATCH");
    assert_eq!(r.header("x-echo-path"), "/a/b?x=1&y=2");
    assert_eq!(r.header("x-echo-xff"), "127.0.0.1");
    assert_eq!(r.header("x-echo-via"), "1.1 gantry");
    assert_eq!(
        r.header("x-echo-host"),
        addr.to_string(),
        "the client's Host is kept"
    );
    assert_eq!(r.header("via"), "1.1 gantry");
    assert_eq!(r.body, "hello body");
    let r = get(&c, addr, "/status/404").await.unwrap();
    assert_eq!(r.status, 404, "upstream statuses pass through");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_retried_for_any_method() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    let mut dead = v1.backend(50, true);
    dead.addr = dead_addr();
    dead.version = "v0".into();
    router.update("web", route(addr, vec![dead, v1.backend(50, true)]));
    let c = client();
    for i in 0..40 {
        let r = send(&c, "POST", addr, "/", &format!("order {i}"))
            .await
            .unwrap();
        assert_eq!((r.status, r.body), (200, format!("order {i}")));
    }
    assert_eq!(v1.hits(), 40);
    let stats = router.window_stats("web", "v0", Duration::from_secs(10));
    assert!(
        stats.connect_errors > 5,
        "the dead backend was tried: {stats:?}"
    );
    assert_eq!(
        stats.requests, 0,
        "retried requests count for the version that answered"
    );
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_errors_are_typed() {
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    assert!(matches!(
        router.serve("web", any_port()),
        Err(RouterError::AlreadyServing { .. })
    ));
    assert!(matches!(
        router.serve("api", addr),
        Err(RouterError::Bind { .. })
    ));
    router.shutdown().await;
    assert!(matches!(
        router.serve("api", any_port()),
        Err(RouterError::ShutDown)
    ));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}

#[test]
fn serve_outside_a_runtime_is_an_error() {
    let router = Router::new();
    assert!(matches!(
        router.serve("web", any_port()),
        Err(RouterError::NoRuntime)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_then_serve_again_keeps_the_route() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(1, true)]));
    router.stop("web").await;
    assert_eq!(router.local_addr("web"), None);
    let addr2 = router.serve("web", any_port()).unwrap().local_addr();
    let report = load(addr2, 2, Duration::from_millis(200)).await;
    assert!(report.failures.is_empty() && report.ok > 0, "{report:?}");
    assert_eq!(router.route("web").unwrap().backends.len(), 1);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_are_streamed_both_ways() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(1, true)]));
    // Larger than max_replay_body and max_buffered_response (64 KiB): streamed, not buffered.
    let big: String = (0..300_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let r = send(&client(), "POST", addr, "/upload", &big)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "the body came back intact");
    assert_eq!(
        router.in_flight("web", v1.addr),
        0,
        "a finished stream is no longer in flight"
    );
    router.shutdown().await;
}
