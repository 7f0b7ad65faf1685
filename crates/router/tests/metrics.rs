//! The router's measurements match what was sent.

mod support;

use std::time::Duration;

use gantry_router::{Router, RouterConfig, ServiceConfig};
use support::{Upstream, client, get, route};

fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_stats_match_what_was_sent() {
    let (v1, v2) = (Upstream::start("v1").await, Upstream::start("v2").await);
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update(
        "web",
        route(addr, vec![v1.backend(100, true), v2.backend(0, true)]),
    );
    let c = client();
    for _ in 0..85 {
        assert_eq!(get(&c, addr, "/").await.unwrap().status, 200);
    }
    for _ in 0..10 {
        assert_eq!(get(&c, addr, "/status/503").await.unwrap().status, 503);
    }
    for _ in 0..3 {
        assert_eq!(get(&c, addr, "/status/404").await.unwrap().status, 404);
    }
    // Two slow requests out of 100: p99 lands on the slow ones, p50 does not.
    let slow = (0..2).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { get(&c, addr, "/delay/300").await.unwrap().status })
    });
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }

    let s = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!(s.requests, 100);
    assert_eq!(s.errors_5xx, 10);
    assert!((s.error_rate - 0.10).abs() < 1e-9, "{}", s.error_rate);
    assert_eq!((s.status.s2xx, s.status.s4xx, s.status.s5xx), (87, 3, 10));
    assert!(
        s.p99 >= Duration::from_millis(300) && s.p99 < Duration::from_millis(450),
        "p99 {:?}",
        s.p99
    );
    assert!(
        s.max >= Duration::from_millis(300) && s.max < Duration::from_millis(450),
        "max {:?}",
        s.max
    );
    assert!(s.p50 < Duration::from_millis(50), "p50 {:?}", s.p50);
    assert_eq!(s.window, Duration::from_secs(10));

    let idle = router.window_stats("web", "v2", Duration::from_secs(10));
    assert_eq!((idle.requests, idle.error_rate), (0, 0.0));
    let unknown = router.window_stats("nope", "v1", Duration::from_secs(10));
    assert_eq!(unknown.requests, 0);

    let totals = router.totals();
    let v1_totals = totals[0]
        .versions
        .iter()
        .find(|v| v.version == "v1")
        .unwrap();
    assert_eq!(
        (v1_totals.counts.requests, v1_totals.counts.status.s5xx),
        (100, 10)
    );
    assert!(v1_totals.latency_sum >= Duration::from_millis(600));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_forgets_old_seconds() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(100, true)]));
    let c = client();
    for _ in 0..20 {
        get(&c, addr, "/status/500").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..5 {
        get(&c, addr, "/").await.unwrap();
    }
    // The last second holds only new requests (all of them, unless a second boundary fell
    // between them), and none of the old errors.
    let recent = router.window_stats("web", "v1", Duration::from_secs(1));
    assert!(
        (1..=5).contains(&recent.requests) && recent.errors_5xx == 0,
        "{recent:?}"
    );
    let longer = router.window_stats("web", "v1", Duration::from_secs(10));
    assert_eq!((longer.requests, longer.errors_5xx), (25, 20));
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_times_out_with_504_counted_as_5xx() {
    let v1 = Upstream::start("v1").await;
    let config = RouterConfig {
        service: ServiceConfig {
            response_header_timeout: Duration::from_millis(200),
            ..ServiceConfig::default()
        },
        ..RouterConfig::default()
    };
    let router = Router::with_config(config);
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(100, true)]));
    let r = get(&client(), addr, "/delay/1000").await.unwrap();
    assert_eq!(r.status, 504);
    let s = router.window_stats("web", "v1", Duration::from_secs(5));
    assert_eq!((s.requests, s.errors_5xx, s.upstream_errors), (1, 1, 1));
    assert!(
        s.max >= Duration::from_millis(200) && s.max < Duration::from_millis(400),
        "{:?}",
        s.max
    );
    router.shutdown().await;
}
