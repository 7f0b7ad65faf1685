//! The control plane's semantics, in-process against a fake driver whose instances the
//! test controls, on tokio's paused clock (so a 30 s pause costs nothing and every wait is
//! a condition, never a fixed sleep). Each regression test names the issue bullet it guards.

mod failure;
mod pause;
mod queue;
mod restore;
mod stop;

use std::time::Duration;

use gantry_deploy::Phase;
use gantry_server::DeployRequest;
use gantry_test_support::plane::{Plane, Project, config};

/// Longest any wait may take in the test's (virtual) clock.
pub const LIMIT: Duration = Duration::from_secs(600);

pub fn rolling(instances: u32) -> String {
    config(
        instances,
        "{ rolling: { max_surge: 1, max_unavailable: 0 } }",
        None,
    )
}

pub fn canary(analysis: Option<&str>) -> String {
    config(
        1,
        "{ canary: { steps: [ {weight: 20, pause: 30s}, {weight: 50, pause: 30s} ] } }",
        analysis,
    )
}

/// One instance per version with `strategy`, no analysis.
pub fn config_with(strategy: &str) -> String {
    config(1, strategy, None)
}

/// Starts a deployment of `version` of `web`; returns its id.
pub async fn deploy(p: &Plane, version: &str) -> String {
    p.app()
        .deploy(
            "web",
            DeployRequest {
                version: version.into(),
                strategy: None,
                env: None,
                override_policy: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("deploy {version}: {e}"))
        .id
}

/// Deploys `version` and waits until it succeeded.
pub async fn live(p: &Plane, version: &str) -> String {
    let id = deploy(p, version).await;
    let s = p.until_done(&id, LIMIT).await;
    assert_eq!(s.phase, Phase::Succeeded, "{id}: {:?}", s.reason);
    id
}

#[tokio::test(start_paused = true)]
async fn canary_runs_its_steps_on_a_paused_clock() {
    let project = Project::new(&canary(None));
    let p = project.start().await;
    p.plane.restored().await;
    live(&p, "v1").await;
    let id = live(&p, "v2").await;
    let mut shares: Vec<_> = p
        .driver
        .traffic_log()
        .into_iter()
        .map(|(_, t)| t.weights)
        .filter(|w| w.contains_key("v2"))
        .map(|w| w["v2"])
        .collect();
    // The promotion also clears the preview, which writes the same weights again.
    shares.dedup();
    assert_eq!(shares, [20, 50, 100]);
    assert_eq!(
        project.phases(&id),
        ["started", "progressing", "promoted", "succeeded"]
    );
    assert!(
        p.driver.instances_of("web", "v1").is_empty(),
        "v1 was stopped after the promotion"
    );
}
