//! No client-visible failures while the table changes or a backend dies under load.

mod support;

use std::time::Duration;

use gantry_router::Router;
use support::{Upstream, client, get, load, route};

fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shifting_weights_and_removing_an_instance_fails_no_request() {
    // A little upstream latency keeps requests in flight across every table swap.
    let delay = Duration::from_millis(2);
    let v1a = Upstream::start_with_delay("v1", delay).await;
    let mut v1b = Upstream::start_with_delay("v1", delay).await;
    let v2 = Upstream::start_with_delay("v2", delay).await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update(
        "web",
        route(addr, vec![v1a.backend(100, true), v1b.backend(100, true)]),
    );

    let load = tokio::spawn(load(addr, 4, Duration::from_secs(3)));
    let steps: [(u32, u32); 5] = [(90, 10), (50, 50), (10, 90), (0, 100), (0, 100)];
    for (i, (w1, w2)) in steps.into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut backends = vec![v1a.backend(w1, true), v2.backend(w2, true)];
        if i < 2 {
            backends.push(v1b.backend(w1, true));
        }
        router.update("web", route(addr, backends));
        if i == 2 {
            // v1b left the table at step 2: wait for its requests to drain, then stop it,
            // as the control plane does.
            let mut waited = Duration::ZERO;
            while router.in_flight("web", v1b.addr) > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                waited += Duration::from_millis(5);
                assert!(waited < Duration::from_secs(2), "v1b never drained");
            }
            v1b.kill();
        }
    }
    let hits_before_end = v1a.hits();
    let report = load.await.unwrap();
    assert!(
        report.failures.is_empty(),
        "{} failures, first: {:?}",
        report.failures.len(),
        report.failures.first()
    );
    assert!(
        report.ok > 500,
        "too little load to prove anything: {report:?}"
    );
    assert!(
        report.by_version.get("v1").copied().unwrap_or(0) > 0,
        "{report:?}"
    );
    assert!(
        report.by_version.get("v2").copied().unwrap_or(0) > 0,
        "{report:?}"
    );
    // After the last step v1 has weight 0: it gets nothing more.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c = client();
    for _ in 0..50 {
        assert_eq!(get(&c, addr, "/").await.unwrap().header("x-version"), "v2");
    }
    assert_eq!(v1a.hits(), hits_before_end);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_dying_mid_load_fails_no_idempotent_request() {
    let delay = Duration::from_millis(3);
    let a = Upstream::start_with_delay("v1", delay).await;
    let mut b = Upstream::start_with_delay("v1", delay).await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update(
        "web",
        route(addr, vec![a.backend(100, true), b.backend(100, true)]),
    );

    let load = tokio::spawn(load(addr, 4, Duration::from_millis(2500)));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let b_hits_at_kill = b.hits();
    b.kill(); // the table still lists b as ready: the router must cope on its own
    let report = load.await.unwrap();
    assert!(
        b_hits_at_kill > 50,
        "b served before it died ({b_hits_at_kill})"
    );
    assert!(
        report.failures.is_empty(),
        "{} failures, first: {:?}",
        report.failures.len(),
        report.failures.first()
    );
    let stats = router.window_stats("web", "v1", Duration::from_secs(10));
    assert!(
        stats.connect_errors + stats.upstream_errors > 0,
        "the dead backend was tried: {stats:?}"
    );
    assert_eq!(stats.errors_5xx, 0, "{stats:?}");
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_request_finishes_on_a_removed_backend() {
    let old = Upstream::start("old").await;
    let new = Upstream::start("new").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![old.backend(100, true)]));

    let slow = tokio::spawn(async move { get(&client(), addr, "/delay/400").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(router.in_flight("web", old.addr), 1);
    router.update("web", route(addr, vec![new.backend(100, true)]));
    let c = client();
    assert_eq!(
        get(&c, addr, "/").await.unwrap().header("x-version"),
        "new",
        "new requests use the new table"
    );
    let r = slow.await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.header("x-version")),
        (200, "old"),
        "the in-flight request finished where it started"
    );
    assert_eq!(router.in_flight("web", old.addr), 0);
    router.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let v1 = Upstream::start("v1").await;
    let router = Router::new();
    let addr = router.serve("web", any_port()).unwrap().local_addr();
    router.update("web", route(addr, vec![v1.backend(100, true)]));
    let slow = tokio::spawn(async move { get(&client(), addr, "/delay/300").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    router.shutdown().await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "shutdown waited for the request"
    );
    assert_eq!(slow.await.unwrap().unwrap().status, 200);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
