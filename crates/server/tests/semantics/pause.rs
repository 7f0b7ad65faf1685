//! `pause` holds every strategy at its next safe point; `resume` releases it; `promote`
//! outside a pause is refused.

use std::time::Duration;

use gantry_deploy::{Op, Phase};
use gantry_test_support::plane::{Plane, Project};

use crate::{LIMIT, canary, deploy, live, rolling};

/// Issue 13: `gantry pause` did not pause a rolling update (the step loop read only abort
/// and full), while `ps` and the ledger said "paused".
#[tokio::test(start_paused = true)]
async fn issue13_pause_holds_a_rolling_update_at_its_next_safe_point() {
    let project = Project::new(&rolling(3));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    p.driver.hold_starts("v2");
    let id = deploy(&p, "v2").await;
    p.driver
        .until(LIMIT, "the first v2 start", |d| d.starts_waiting("v2") == 1)
        .await;
    let paused = p.app().operate("web", Op::Pause).await.expect("pause");
    assert_eq!(paused.phase, Phase::Paused);
    let shifts = p.driver.traffic_calls();
    // The start already asked for completes; nothing after it may happen while paused.
    p.driver.release_starts("v2");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        p.driver.instances_of("web", "v2").len(),
        1,
        "no new instance while paused"
    );
    assert_eq!(
        p.driver.instances_of("web", "v1").len(),
        3,
        "no scale-down while paused"
    );
    assert_eq!(
        p.driver.traffic_calls(),
        shifts,
        "no weight change while paused"
    );
    let s = p.app().deployment(&id).expect("status");
    assert_eq!(s.phase, Phase::Paused);
    assert!(s.operator_paused, "status says the operator paused it");

    let resumed = p.app().operate("web", Op::Resume).await.expect("resume");
    assert_eq!(resumed.phase, Phase::Progressing);
    let done = p.until_done(&id, LIMIT).await;
    assert_eq!(done.phase, Phase::Succeeded, "{:?}", done.reason);
    assert_eq!(p.driver.instances_of("web", "v2").len(), 3);
    assert!(p.driver.instances_of("web", "v1").is_empty());
}

/// A canary paused in its first timed pause stays there past the pause's duration.
#[tokio::test(start_paused = true)]
async fn pause_holds_a_canary_step_past_its_duration() {
    let project = Project::new(&canary(None));
    let (p, id) = at_first_canary_pause(&project).await;
    p.app().operate("web", Op::Pause).await.expect("pause");
    tokio::time::sleep(Duration::from_secs(300)).await;
    let s = p.app().deployment(&id).expect("status");
    assert_eq!(s.phase, Phase::Paused);
    assert_eq!(p.driver.web_traffic().weights.get("v2"), Some(&20));
    p.app().operate("web", Op::Resume).await.expect("resume");
    assert_eq!(p.until_done(&id, LIMIT).await.phase, Phase::Succeeded);
}

/// `promote` outside a pause is refused, not banked for a later pause.
#[tokio::test(start_paused = true)]
async fn promote_outside_a_pause_is_refused() {
    let project = Project::new(&rolling(2));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    p.driver.hold_starts("v2");
    let id = deploy(&p, "v2").await;
    p.driver
        .until(LIMIT, "the first v2 start", |d| d.starts_waiting("v2") == 1)
        .await;
    let err = p.app().operate("web", Op::Promote).await.unwrap_err();
    assert!(
        err.to_string().contains("not in a pause"),
        "refused with the reason: {err}"
    );
    p.driver.release_starts("v2");
    assert_eq!(p.until_done(&id, LIMIT).await.phase, Phase::Succeeded);
}

/// Issue 13: a pause or resume that passed its phase check could be written after the
/// executor's `succeeded`. Once a deployment is over, both are refused and nothing is
/// recorded after its last phase.
#[tokio::test(start_paused = true)]
async fn pause_and_resume_after_success_are_refused() {
    let project = Project::new(&rolling(1));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    let id = live(&p, "v2").await;
    for op in [Op::Pause, Op::Resume, Op::Promote, Op::Abort] {
        let err = p.app().operate("web", op).await.unwrap_err();
        assert!(
            err.to_string().contains("no deployment of web is running"),
            "{op:?}: {err}"
        );
    }
    assert_eq!(
        project.phases(&id).last().map(String::as_str),
        Some("succeeded")
    );
}

/// Issue 13: a pause that passed its check while the last step ran was overtaken by the
/// executor's `succeeded`. Now a pause accepted before the end holds the deployment before
/// it succeeds, and `resume` lets it finish; nothing is recorded after `succeeded`.
#[tokio::test(start_paused = true)]
async fn issue13_a_pause_racing_the_last_step_holds_it_before_success() {
    let project = Project::new(&rolling(1));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    p.driver.hold_stops("v1");
    let id = deploy(&p, "v2").await;
    p.driver
        .until(LIMIT, "the scale-down of v1", |d| {
            d.stops_waiting("v1") == 1
        })
        .await;
    p.app().operate("web", Op::Pause).await.expect("pause");
    p.driver.release_stops("v1");
    tokio::time::sleep(Duration::from_secs(120)).await;
    let s = p.app().deployment(&id).expect("status");
    assert_eq!(s.phase, Phase::Paused, "held before its end");
    assert!(!project.phases(&id).contains(&"succeeded".to_string()));
    p.app().operate("web", Op::Resume).await.expect("resume");
    assert_eq!(p.until_done(&id, LIMIT).await.phase, Phase::Succeeded);
    let phases = project.phases(&id);
    assert_eq!(
        phases[phases.len() - 4..],
        ["paused", "progressing", "promoted", "succeeded"]
    );
    let err = p.app().operate("web", Op::Resume).await.unwrap_err();
    assert!(
        err.to_string().contains("no deployment of web is running"),
        "{err}"
    );
}

/// `abort` ends the deployment with traffic on the stable version, also while paused.
#[tokio::test(start_paused = true)]
async fn abort_while_paused_ends_with_traffic_on_stable() {
    let project = Project::new(&canary(None));
    let (p, id) = at_first_canary_pause(&project).await;
    p.app().operate("web", Op::Pause).await.expect("pause");
    p.app().operate("web", Op::Abort).await.expect("abort");
    let s = p.until_done(&id, LIMIT).await;
    assert_eq!(s.phase, Phase::Aborted);
    let t = p.driver.web_traffic();
    assert_eq!(t.weights.get("v1"), Some(&100));
    assert!(!t.weights.contains_key("v2"), "{t:?}");
    assert!(p.driver.instances_of("web", "v2").is_empty());
    assert_eq!(p.driver.instances_of("web", "v1").len(), 1);
}

/// A rollback runs to its end: pause, promote and abort are refused while it runs.
#[tokio::test(start_paused = true)]
async fn operations_on_a_running_rollback_are_refused() {
    let project = Project::new(&rolling(1));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    live(&p, "v2").await;
    p.driver.hold_starts("v1");
    let out = p
        .app()
        .rollback(
            "web",
            gantry_server::RollbackRequest {
                to: None,
                dry_run: false,
            },
        )
        .await
        .expect("rollback");
    let id = out["deployment"]["id"].as_str().expect("id").to_string();
    p.driver
        .until(LIMIT, "the rollback starting v1", |d| {
            d.starts_waiting("v1") == 1
        })
        .await;
    for op in [Op::Pause, Op::Promote, Op::Abort] {
        let err = p.app().operate("web", op).await.unwrap_err();
        assert!(err.to_string().contains("is a rollback"), "{op:?}: {err}");
    }
    p.driver.release_starts("v1");
    assert_eq!(p.until_done(&id, LIMIT).await.phase, Phase::RolledBack);
    assert_eq!(p.driver.web_traffic().weights.get("v1"), Some(&100));
}

/// `resume` ends only an operator's pause: a wait for `gantry promote` is ended by
/// `promote`, and a resume is refused with that reason.
#[tokio::test(start_paused = true)]
async fn resume_is_refused_for_a_wait_for_promote() {
    let project = Project::new(&crate::config_with(
        "{ canary: { steps: [ {weight: 20} ] } }",
    ));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    let id = deploy(&p, "v2").await;
    p.until_status(&id, LIMIT, "waiting for promote", |s| s.waiting_for_promote)
        .await;
    let err = p.app().operate("web", Op::Resume).await.unwrap_err();
    assert!(
        err.to_string().contains("`gantry promote` ends its pause"),
        "{err}"
    );
    p.app().operate("web", Op::Promote).await.expect("promote");
    assert_eq!(p.until_done(&id, LIMIT).await.phase, Phase::Succeeded);
}

/// A canary of v2 over a live v1, waiting in its first timed pause (20 % on v2).
async fn at_first_canary_pause(project: &Project) -> (Plane, String) {
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    let id = deploy(&p, "v2").await;
    p.until_status(&id, LIMIT, "at its first pause", |s| {
        s.weights.get("v2") == Some(&20)
    })
    .await;
    (p, id)
}
