//! After a restart, restore holds the mutating calls (503 + Retry-After) until it is done,
//! and deployment ids never repeat.

use gantry_deploy::{Op, Phase};
use gantry_server::{DeployRequest, ServerError};
use gantry_test_support::fake_driver::FakeDriver;
use gantry_test_support::plane::Project;

use crate::{LIMIT, canary, live};

/// A control plane that ran v1 and v2 and then died without a word (its runtime dropped).
fn crashed_after_two_deploys(yaml: &str) -> Project {
    let project = Project::new(yaml);
    let rt = paused_runtime();
    rt.block_on(async {
        let p = project.start().await;
        p.plane.restored().await;
        live(&p, "v1").await;
        live(&p, "v2").await;
    });
    drop(rt);
    project
}

/// Issue 13: `restore` ran unlocked while the API was already up: a deploy sent then ran
/// beside it, and the id counter restarted, so ids collided.
#[test]
fn issue13_a_deploy_during_restore_is_held_and_ids_never_repeat() {
    let project = crashed_after_two_deploys(&canary(None));
    paused_runtime().block_on(deploy_during_restore(&project));
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime")
}

async fn deploy_during_restore(project: &Project) {
    let (driver, events) = FakeDriver::new();
    driver.hold_starts("v2");
    let p = project.start_with(driver, events).await;
    p.driver
        .until(LIMIT, "restore starting v2", |d| {
            d.starts_waiting("v2") == 1
        })
        .await;
    let req = || DeployRequest {
        version: "v3".into(),
        strategy: None,
        env: None,
        override_policy: None,
    };
    match p.app().deploy("web", req()).await {
        Err(ServerError::Unavailable {
            reason,
            retry_after: Some(secs),
        }) => {
            assert!(reason.contains("restoring"), "{reason}");
            assert!(secs >= 1);
        }
        other => panic!("a deploy during restore must wait (503): {other:?}"),
    }
    assert!(
        p.app()
            .rollback(
                "web",
                gantry_server::RollbackRequest {
                    to: Some("v1".into()),
                    dry_run: false
                }
            )
            .await
            .is_err(),
        "a rollback during restore must wait too"
    );
    for op in [Op::Promote, Op::Pause, Op::Resume, Op::Abort] {
        assert_held(p.app().operate("web", op).await, &format!("{op:?}"));
    }
    assert_held(p.app().start_after_stop().await, "start");
    p.driver.release_starts("v2");
    p.plane.restored().await;
    let dep = p
        .app()
        .deploy("web", req())
        .await
        .expect("deploy after restore");
    assert_eq!(dep.id, "web-3", "ids continue the ledger's");
    let done = p.until_done(&dep.id, LIMIT).await;
    assert_eq!(done.phase, Phase::Succeeded, "{:?}", done.reason);
    let started: Vec<_> = project
        .entries()
        .into_iter()
        .filter(|e| e.kind == "deployment.state.started")
        .filter_map(|e| e.body["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(started, ["web-1", "web-2", "web-3"]);
    // Restore's 100 % shift to v2 came before the canary's first step, never after it.
    let log = p.driver.traffic_log();
    let first_v3 = log
        .iter()
        .position(|(_, t)| t.weights.contains_key("v3"))
        .expect("v3 got traffic");
    assert!(
        log[first_v3..]
            .iter()
            .all(|(_, t)| t.weights.contains_key("v3")),
        "nothing took v3's weights away during its canary: {log:?}"
    );
}

/// A mutating call during restore is held: 503 with `Retry-After`, naming the restore.
fn assert_held<T: std::fmt::Debug>(answer: Result<T, ServerError>, what: &str) {
    match answer {
        Err(ServerError::Unavailable {
            reason,
            retry_after: Some(secs),
        }) => assert!(
            reason.contains("restoring") && secs >= 1,
            "{what}: {reason}"
        ),
        other => panic!("{what} during restore must wait (503): {other:?}"),
    }
}

/// An emergency stop is taken during restore too: the restore stops where it is, nothing
/// it was starting comes up afterwards, and `start` brings the stable version back.
#[test]
fn an_emergency_stop_during_restore_ends_it_where_it_is() {
    let project = crashed_after_two_deploys(&canary(None));
    paused_runtime().block_on(async {
        let (driver, events) = FakeDriver::new();
        driver.hold_starts("v2");
        let p = project.start_with(driver, events).await;
        p.driver
            .until(LIMIT, "restore starting v2", |d| {
                d.starts_waiting("v2") == 1
            })
            .await;
        p.app().emergency_stop().await.expect("emergency stop");
        p.driver.release_starts("v2");
        p.plane.restored().await;
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        assert!(p.driver.started().is_empty(), "{:?}", p.driver.started());
        assert!(p.driver.web_traffic().emergency_stop);
        assert_eq!(p.app().ps().status, "CRITICAL");
        let refused = p
            .app()
            .deploy(
                "web",
                DeployRequest {
                    version: "v3".into(),
                    strategy: None,
                    env: None,
                    override_policy: None,
                },
            )
            .await
            .unwrap_err();
        assert!(refused.to_string().contains("emergency stop"), "{refused}");
        p.app().start_after_stop().await.expect("start");
        assert_eq!(p.driver.instances_of("web", "v2").len(), 1);
        assert_eq!(p.driver.web_traffic().weights.get("v2"), Some(&100));
    });
}
