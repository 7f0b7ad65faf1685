//! The progress deadline of a rolling update, with Kubernetes' semantics: the rollout fails
//! only after going the deadline without progress (an instance created or ready, an old
//! one scaled down), however long it takes in all.

use std::time::{Duration, Instant};

use gantry_test_support::load::Load;
use serde_json::Value;

use crate::{Env, Opts};

/// Three instances, one new at a time, 5s without progress allowed.
const ROLLING: &str = "{ rolling: { max_surge: 1, max_unavailable: 0, progress_deadline: 5s } }";
const DEADLINE_MS: u64 = 5_000;

fn rolling_env() -> Env {
    let env = Env::new(Opts {
        instances: 3,
        strategy: ROLLING,
        ..Opts::default()
    });
    env.deploy_v1();
    env
}

fn body_of(env: &Env, kind: &str) -> Value {
    env.entries()
        .into_iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} entry"))["body"]
        .clone()
}

#[test]
fn a_rolling_update_longer_than_the_deadline_succeeds_while_each_instance_comes_ready() {
    let env = rolling_env();
    let load = Load::start(env.addr(), 100, 4);
    let started = Instant::now();
    // Each slowstart instance is ready 2.5s after it starts, well within the deadline;
    // three of them one after another take 7.5s of waiting alone, longer than it.
    env.p
        .gantry(&["deploy", "web", "--version", "slowstart", "--wait"])
        .ok()
        .says("slowstart serves all traffic");
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(DEADLINE_MS),
        "the rollout took {took:?}, not longer than the deadline: the test proves nothing"
    );
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    let web = env.web();
    assert_eq!(web["stable"], "slowstart");
    let instances = web["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3);
    assert!(
        instances
            .iter()
            .all(|i| i["version"] == "slowstart" && i["ready"] == true)
    );
    assert!(!env.kinds().contains(&"rollback.triggered".to_string()));
}

#[test]
fn a_never_ready_version_fails_at_the_deadline_after_the_last_progress() {
    let env = rolling_env();
    let load = Load::start(env.addr(), 100, 4);
    let started = Instant::now();
    env.p
        .gantry(&["deploy", "web", "--version", "never", "--wait"])
        .fails_with(3)
        .says("past the progress deadline (5000ms");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(DEADLINE_MS),
        "failed after {took:?}"
    );
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");
    assert_eq!(stats.served_by("never"), 0, "{stats:?}");

    // The figures are recorded with the failure and with the rollback it triggers.
    for kind in ["deployment.state.failed", "rollback.triggered"] {
        let body = body_of(&env, kind);
        assert_eq!(body["deadline_ms"], DEADLINE_MS, "{kind}: {body}");
        assert_eq!(body["last_progress"], "created", "{kind}: {body}");
        assert_eq!(
            (body["ready"].as_u64(), body["wanted"].as_u64()),
            (Some(0), Some(1))
        );
        let stalled = body["stalled_ms"].as_u64().unwrap();
        // Checked every 50ms; a busy machine may be later, never earlier.
        assert!(
            (DEADLINE_MS..DEADLINE_MS + 3_000).contains(&stalled),
            "{kind}: failed {stalled}ms after the last progress: {body}"
        );
    }
    let web = env.web();
    assert_eq!(web["stable"], "v1");
    let instances = web["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3);
    assert!(instances.iter().all(|i| i["version"] == "v1"));
}
