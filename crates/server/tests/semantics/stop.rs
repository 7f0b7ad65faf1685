//! Emergency stop is final for everything in flight; `start` restores exactly the
//! recorded desired state.

use std::sync::Arc;
use std::time::Duration;

use gantry_deploy::{Driver, Measurement, Phase};
use gantry_test_support::plane::{Project, config};

use crate::{LIMIT, deploy, live};

fn judged_canary() -> String {
    config(
        1,
        "{ canary: { steps: [ {weight: 20, pause: 30s} ] } }",
        Some("{ error_rate: \"< 5%\", min_requests: 10, window: 1s }"),
    )
}

/// Issue 13: an automatic rollback in progress ignored the emergency stop and started
/// instances after `control.emergency_stop` was recorded; `start` then started the full
/// count on top of those.
#[tokio::test(start_paused = true)]
async fn issue13_emergency_stop_ends_an_automatic_rollback_where_it_is() {
    let project = Project::new(&judged_canary());
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    // v1's instance is not ready when v2 fails: the rollback has to start a new one.
    p.driver.set_ready("v1", false);
    p.driver.hold_starts("v1");
    p.driver.set_measurement(
        "v2",
        Measurement {
            requests: 100,
            errors_5xx: 50,
            error_rate: 0.5,
            p99_ms: 1.0,
            window_ms: 1000,
            ..Default::default()
        },
    );
    let id = deploy(&p, "v2").await;
    p.driver
        .until(LIMIT, "the rollback starting v1", |d| {
            d.starts_waiting("v1") == 1
        })
        .await;
    p.app().emergency_stop().await.expect("emergency stop");
    p.driver.release_starts("v1");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        p.driver.instances("web").is_empty(),
        "nothing runs after the emergency stop: {:?}",
        p.driver.instances("web")
    );
    assert!(
        p.driver.web_traffic().emergency_stop,
        "traffic stays refused"
    );
    let kinds = project.kinds();
    let stop_at = kinds
        .iter()
        .position(|k| k == "control.emergency_stop")
        .expect("emergency stop recorded");
    assert!(
        !kinds[stop_at..].iter().any(|k| k == "instance.started"),
        "no instance started after the emergency stop: {:?}",
        &kinds[stop_at..]
    );
    let s = p.app().deployment(&id).expect("status");
    assert!(s.is_done(), "the deployment is over: {:?}", s.phase);

    p.app().start_after_stop().await.expect("start");
    assert_eq!(
        p.driver.instances_of("web", "v1").len(),
        1,
        "start restores exactly the desired count"
    );
    let t = p.driver.web_traffic();
    assert!(!t.emergency_stop);
    assert_eq!(t.weights.get("v1"), Some(&100));
}

/// An emergency stop ends an operator's pause too: the effects the pause held never
/// happen, the deployment is aborted where it was, and `start` brings back exactly the
/// stable version's instances.
#[tokio::test(start_paused = true)]
async fn an_emergency_stop_ends_a_paused_rolling_update_where_it_is() {
    let project = Project::new(&crate::rolling(3));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    p.driver.hold_starts("v2");
    let id = deploy(&p, "v2").await;
    p.driver
        .until(LIMIT, "the first v2 start", |d| d.starts_waiting("v2") == 1)
        .await;
    p.app()
        .operate("web", gantry_deploy::Op::Pause)
        .await
        .expect("pause");
    p.driver.release_starts("v2");
    p.driver
        .until(LIMIT, "the started v2", |d| {
            d.instances_of("web", "v2").len() == 1
        })
        .await;
    let shifts = p.driver.traffic_calls();
    p.app().emergency_stop().await.expect("emergency stop");
    let s = p.app().deployment(&id).expect("status");
    assert_eq!(s.phase, Phase::Aborted, "{:?}", s.reason);
    assert_eq!(
        p.driver.traffic_calls(),
        shifts + 1,
        "only the stop's own write reached the router"
    );
    assert!(p.driver.web_traffic().emergency_stop);
    assert!(p.driver.instances("web").is_empty());
    let phases = project.phases(&id);
    assert_eq!(phases.last().map(String::as_str), Some("aborted"));
    p.app().start_after_stop().await.expect("start");
    assert_eq!(p.driver.instances_of("web", "v1").len(), 3);
    assert!(p.driver.instances_of("web", "v2").is_empty());
    assert_eq!(p.driver.web_traffic().weights.get("v1"), Some(&100));
}

/// Issue 13: traffic was updated read-modify-write from several tasks; a shift racing the
/// emergency stop could write `emergency_stop=false` back to the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue13_a_shift_racing_the_emergency_stop_cannot_undo_it() {
    let project = Project::new(&config(
        1,
        "{ canary: { steps: [ {weight: 20, pause: 30s} ] } }",
        None,
    ));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    p.driver.hold_traffic_naming("v2");
    deploy(&p, "v2").await;
    p.driver
        .until(Duration::from_secs(30), "the canary's shift held", |d| {
            d.traffic_held()
        })
        .await;
    let before = p.driver.traffic_calls();
    let stop = {
        let app = Arc::clone(p.app());
        tokio::spawn(async move { app.emergency_stop().await })
    };
    // The stop's own write either lands now (and the held shift must not undo it) or
    // waits for the shift to finish; both are given the chance.
    let _ = tokio::time::timeout(Duration::from_millis(300), async {
        while p.driver.traffic_calls() == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    p.driver.release_traffic();
    stop.await.expect("join").expect("emergency stop");
    let log = p.driver.traffic_log();
    let (_, last) = log.last().expect("traffic set");
    assert!(
        last.emergency_stop,
        "the last write to the router keeps the emergency stop: {log:?}"
    );
    assert!(p.driver.web_traffic().emergency_stop);
    let _ = Phase::Aborted;
}
