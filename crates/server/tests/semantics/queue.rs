//! Bounded queues push back instead of dropping (issue 13, scope 1): a burst of callers
//! many times larger than an owner's queue waits its turn, and every call is answered.

use std::sync::Arc;

use gantry_server::{RollbackRequest, ServerError};
use gantry_test_support::plane::Project;

use crate::{LIMIT, canary, deploy, live};

/// Far more than the owner's queue (256): most senders wait for room.
const CALLERS: usize = 2_000;

#[tokio::test(start_paused = true)]
async fn a_burst_of_callers_eight_times_the_queue_is_answered_in_full() {
    let project = Project::new(&canary(None));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    let app = Arc::clone(p.app());
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let app = Arc::clone(&app);
        calls.spawn(async move {
            app.rollback(
                "web",
                RollbackRequest {
                    to: Some("v2".into()),
                    dry_run: true,
                },
            )
            .await
        });
    }
    // A real change in the middle of the burst is queued like the rest, not refused; the
    // dry runs after it are answered "wait for it".
    let id = deploy(&p, "v2").await;
    let (mut planned, mut busy) = (0, 0);
    while let Some(r) = calls.join_next().await {
        match r.expect("caller task") {
            Ok(plan) => {
                assert_eq!(plan["dry_run"], true, "{plan}");
                planned += 1;
            }
            Err(ServerError::Conflict(why)) if why.contains("wait for it") => busy += 1,
            Err(e) => panic!("a call was refused rather than answered: {e}"),
        }
    }
    assert_eq!(planned + busy, CALLERS);
    let s = p.until_done(&id, LIMIT).await;
    assert_eq!(s.phase, gantry_deploy::Phase::Succeeded, "{:?}", s.reason);
}
