//! Failure is loud: a panicking deployment task is caught (failed, rolled back, the owner
//! keeps working); a ledger write failure stops mutating calls and makes the status
//! CRITICAL.

use std::io::Write;

use gantry_deploy::Phase;
use gantry_server::{DeployRequest, ServerError};
use gantry_test_support::plane::Project;

use crate::{LIMIT, canary, deploy, live};

/// Issue 13: a deployment task that panicked left `active` set forever: every deploy and
/// rollback was 409 and `abort` set a flag nothing read.
#[tokio::test(start_paused = true)]
async fn issue13_a_panicking_driver_fails_the_deployment_and_rolls_back() {
    let project = Project::new(&canary(None));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    p.driver.panic_on_start("v2");
    let id = deploy(&p, "v2").await;
    let s = p.until_done(&id, LIMIT).await;
    assert_eq!(s.phase, Phase::RolledBack, "{:?}", s.reason);
    let reason = s.reason.unwrap_or_default();
    assert!(reason.contains("panicked"), "the reason says so: {reason}");
    let phases = project.phases(&id);
    assert_eq!(phases[phases.len() - 2..], ["failed", "rolled_back"]);
    assert_eq!(p.driver.web_traffic().weights.get("v1"), Some(&100));
    // The control plane keeps working.
    live(&p, "v3").await;
}

/// A rollback that panics too (after the deployment's own panic) ends the deployment
/// failed, naming both; the service keeps its stable version and takes the next deploy.
#[tokio::test(start_paused = true)]
async fn a_panic_in_the_rollback_after_a_panic_ends_it_failed_and_the_owner_keeps_working() {
    let project = Project::new(&canary(None));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    // v1 is not ready when v2 fails, so the rollback has to start one: that panics too.
    p.driver.set_ready("v1", false);
    p.driver.panic_on_start("v2");
    p.driver.panic_on_start("v1");
    let id = deploy(&p, "v2").await;
    let s = p
        .until_status(&id, LIMIT, "failed twice", |s| {
            s.reason
                .as_deref()
                .is_some_and(|r| r.contains("rollback panicked"))
        })
        .await;
    assert_eq!(s.phase, Phase::Failed);
    let ps = p.app().ps();
    assert!(
        ps.services[0].deployment.is_none(),
        "the deployment is over"
    );
    assert_eq!(ps.services[0].stable.as_deref(), Some("v1"));
    p.driver.clear_panics();
    p.driver.set_ready("v1", true);
    live(&p, "v3").await;
}

/// Issue 13: ledger write failures were only logged: the API answered 200 and `ps` said
/// OPERATIONAL after the committer died.
#[tokio::test(start_paused = true)]
async fn issue13_a_ledger_write_failure_refuses_changes_and_is_critical() {
    let project = Project::new(&canary(None));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    let before = std::fs::read(project.ledger_path()).expect("ledger");
    // A line the writer cannot chain to: every append from now on fails.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(project.ledger_path())
        .expect("open ledger");
    f.write_all(b"not an entry\n").expect("corrupt");
    drop(f);
    let req = || DeployRequest {
        version: "v2".into(),
        strategy: None,
        env: None,
        override_policy: None,
    };
    match p.app().deploy("web", req()).await {
        Err(ServerError::Unavailable { reason, .. }) => {
            assert!(reason.contains("cannot write its ledger"), "{reason}")
        }
        other => panic!("a deploy that cannot be recorded must be refused: {other:?}"),
    }
    let ps = p.app().ps();
    assert_eq!(ps.status, "CRITICAL");
    assert!(
        ps.ledger_error
            .as_deref()
            .is_some_and(|e| e.contains("corrupt")),
        "ps names the failure: {:?}",
        ps.ledger_error
    );
    assert!(matches!(
        p.app().deploy("web", req()).await,
        Err(ServerError::Unavailable { .. })
    ));
    assert!(
        p.driver.instances_of("web", "v2").is_empty(),
        "nothing unrecorded was started"
    );
    // What was recorded before is still there.
    let after = std::fs::read(project.ledger_path()).expect("ledger");
    assert!(after.starts_with(&before));
}

/// The way out of a failed canary waits for no disk: the owner hands the router the
/// stable version's traffic, then writes `failed`, `rollback.triggered` and the shift as
/// one batch (one fsync) — consecutive entries, in that order — instead of waiting for two
/// fsyncs before the traffic moves.
#[tokio::test(start_paused = true)]
async fn a_failed_canary_is_written_as_failed_triggered_shifted_in_one_write() {
    let project = Project::new(&canary(Some(
        "{ error_rate: \"< 5%\", min_requests: 10, window: 1s }",
    )));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    p.driver.set_measurement(
        "v2",
        gantry_deploy::Measurement {
            requests: 100,
            errors_5xx: 50,
            error_rate: 0.5,
            p99_ms: 1.0,
            window_ms: 1000,
            ..Default::default()
        },
    );
    let id = deploy(&p, "v2").await;
    let s = p.until_done(&id, LIMIT).await;
    assert_eq!(s.phase, Phase::RolledBack, "{:?}", s.reason);
    let entries = project.entries();
    let at = entries
        .iter()
        .position(|e| e.kind == "deployment.state.failed")
        .expect("failed");
    let kinds: Vec<&str> = entries[at..at + 3]
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "deployment.state.failed",
            "rollback.triggered",
            "traffic.shifted"
        ]
    );
    assert_eq!(
        entries[at + 2].body["weights"],
        serde_json::json!({"v1": 100})
    );
    // The router got v1 = 100 % once, and no v2 share after it.
    let log: Vec<_> = p
        .driver
        .traffic_log()
        .into_iter()
        .map(|(_, t)| t.weights)
        .collect();
    let back = log
        .iter()
        .rposition(|w| w.get("v2").is_some_and(|v| *v > 0))
        .expect("the canary had traffic");
    assert!(
        log[back + 1..].iter().all(|w| w.get("v1") == Some(&100)),
        "{log:?}"
    );
}
