//! Both ways of running the router — dedicated worker threads (`RouterConfig::workers`,
//! the default, which the other test files use) and embedded on the caller's runtime
//! (`workers: 0`) — keep every behaviour: weights, draining, retries, emergency stop,
//! metrics.

mod support;

use std::time::Duration;

use gantry_router::{Router, RouterConfig};
use support::{Upstream, client, dead_addr, get, load, route};

fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn router(workers: usize) -> Router {
    Router::with_config(RouterConfig {
        workers,
        ..RouterConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_over_weight_shifts_and_a_dead_backend_fails_nothing_and_is_measured() {
    for workers in [0, 2] {
        shift_under_load(workers).await;
    }
}

async fn shift_under_load(workers: usize) {
    let delay = Duration::from_millis(1);
    let v1 = Upstream::start_with_delay("v1", delay).await;
    let v2 = Upstream::start_with_delay("v2", delay).await;
    let router = router(workers);
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    let mut dead = v1.backend(100, true);
    dead.addr = dead_addr();
    router.update("web", route(addr, vec![v1.backend(100, true), dead]));

    let load = tokio::spawn(load(addr, 6, Duration::from_secs(2)));
    for (w1, w2) in [(50, 50), (0, 100)] {
        tokio::time::sleep(Duration::from_millis(600)).await;
        router.update(
            "web",
            route(addr, vec![v1.backend(w1, true), v2.backend(w2, true)]),
        );
    }
    let report = load.await.unwrap();
    assert!(
        report.failures.is_empty(),
        "{} failures, first: {:?}",
        report.failures.len(),
        report.failures.first()
    );
    let (n1, n2) = (
        report.by_version.get("v1").copied().unwrap_or(0),
        report.by_version.get("v2").copied().unwrap_or(0),
    );
    assert!(n1 > 0 && n2 > 0, "{report:?}");

    // Every answered request was measured once, whichever worker served it.
    let s1 = router.window_stats("web", "v1", Duration::from_secs(10));
    let s2 = router.window_stats("web", "v2", Duration::from_secs(10));
    assert_eq!(s1.requests + s2.requests, report.ok, "{s1:?} {s2:?}");
    assert!(s1.connect_errors > 0, "the dead backend was tried: {s1:?}");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_before_stop_returns() {
    for workers in [0, 2] {
        drain_on_stop(workers).await;
    }
}

async fn drain_on_stop(workers: usize) {
    let v1 = Upstream::start("v1").await;
    let router = router(workers);
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(100, true)]));
    let slow: Vec<_> = (0..4)
        .map(|_| tokio::spawn(async move { get(&client(), addr, "/delay/300").await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(router.in_flight("web", v1.addr), 4);
    let started = std::time::Instant::now();
    router.stop("web").await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "stop waited for the requests"
    );
    for s in slow {
        assert_eq!(s.await.unwrap().unwrap().status, 200);
    }
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert_eq!(router.in_flight("web", v1.addr), 0);

    // Serving again works (with workers: on the same threads).
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    assert_eq!(get(&client(), addr, "/").await.unwrap().status, 200);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_stop_on_workers_answers_503_with_retry_after() {
    let v1 = Upstream::start("v1").await;
    let router = router(1);
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    let mut r = route(addr, vec![v1.backend(100, true)]);
    r.emergency_stop = true;
    router.update("web", r);
    let reply = get(&client(), addr, "/").await.unwrap();
    assert_eq!((reply.status, reply.header("retry-after")), (503, "5"));
    assert_eq!(v1.hits(), 0);
    router.shutdown().await;
}
