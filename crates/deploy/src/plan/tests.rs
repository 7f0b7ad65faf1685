use super::*;

fn service(yaml_strategy: &str, instances: u32, analysis: bool) -> Service {
    let analysis = if analysis {
        "    analysis: { error_rate: \"< 1%\", window: 2s }\n"
    } else {
        ""
    };
    let text = format!(
        "project: t\nservices:\n  web:\n    listen: 127.0.0.1:9\n    instances: {instances}\n    releases: {{ v1: {{ run: a }}, v2: {{ run: b }} }}\n    strategy: {yaml_strategy}\n{analysis}"
    );
    let config = gantry_config::parse("gantry.yaml", &text).unwrap();
    config.services["web"].value.clone()
}

fn w(pairs: &[(&str, u32)]) -> Step {
    Step::Weights {
        weights: weights(pairs),
    }
}

#[test]
fn initial_deploy_starts_and_routes() {
    let s = service("{ canary: { steps: [ {weight: 10} ] } }", 2, true);
    let p = plan_deploy("web", &s, None, "v1", &s.strategy);
    assert_eq!(p.strategy, "initial");
    assert_eq!(
        p.steps,
        vec![
            Step::Start {
                version: "v1".into(),
                count: 2
            },
            w(&[("v1", 100)]),
            Step::Promote {
                version: "v1".into()
            },
        ]
    );
}

#[test]
fn canary_steps_pause_under_analysis_then_promote_and_stop_old() {
    let s = service(
        "{ canary: { steps: [ {weight: 10, pause: 1s}, {weight: 50} ], progress_deadline: 5s } }",
        1,
        true,
    );
    let p = plan_deploy("web", &s, Some("v1"), "v2", &s.strategy);
    assert_eq!(p.progress_deadline_ms, 5000);
    assert_eq!(
        p.steps,
        vec![
            Step::Start {
                version: "v2".into(),
                count: 1
            },
            w(&[("v2", 10), ("v1", 90)]),
            Step::Pause {
                millis: Some(1000),
                analyse: true,
                preview: false
            },
            w(&[("v2", 50), ("v1", 50)]),
            Step::Pause {
                millis: None,
                analyse: true,
                preview: false
            },
            w(&[("v2", 100)]),
            Step::Promote {
                version: "v2".into()
            },
            Step::Stop {
                version: "v1".into(),
                count: None
            },
        ]
    );
}

#[test]
fn blue_green_waits_for_promote_unless_auto() {
    let s = service(
        "{ blue_green: { preview_listen: 127.0.0.1:10, scale_down_delay: 1s } }",
        1,
        false,
    );
    let p = plan_deploy("web", &s, Some("v1"), "v2", &s.strategy);
    assert!(p.steps.contains(&Step::Preview {
        version: "v2".into()
    }));
    assert!(p.steps.contains(&Step::Pause {
        millis: None,
        analyse: false,
        preview: false
    }));
    assert_eq!(
        p.steps.last(),
        Some(&Step::Stop {
            version: "v1".into(),
            count: None
        })
    );
    let s = service(
        "{ blue_green: { auto_promote: true, scale_down_delay: 0s } }",
        1,
        false,
    );
    let p = plan_deploy("web", &s, Some("v1"), "v2", &s.strategy);
    assert!(!p.steps.iter().any(|s| matches!(s, Step::Pause { .. })));
}

#[test]
fn blue_green_with_analysis_judges_the_preview_before_the_switch() {
    let s = service(
        "{ blue_green: { preview_listen: 127.0.0.1:10, auto_promote: true, scale_down_delay: 0s } }",
        1,
        true,
    );
    let p = plan_deploy("web", &s, Some("v1"), "v2", &s.strategy);
    let pause = p.steps.iter().position(|s| matches!(s, Step::Pause { .. }));
    let switch = p
        .steps
        .iter()
        .position(|s| matches!(s, Step::Weights { .. }));
    assert!(pause < switch, "{:?}", p.steps);
    let Some(Step::Pause {
        millis: Some(ms),
        analyse: true,
        preview: true,
    }) = pause.map(|i| &p.steps[i])
    else {
        panic!("a timed preview analysis: {:?}", p.steps)
    };
    assert!(*ms > 0);
    assert!(
        p.steps[pause.unwrap()]
            .to_string()
            .contains("passing analysis")
    );
}

#[test]
fn rolling_replaces_in_surge_sized_batches_shifting_by_count() {
    let s = service(
        "{ rolling: { max_surge: 1, max_unavailable: 0 } }",
        3,
        false,
    );
    let p = plan_deploy("web", &s, Some("v1"), "v2", &s.strategy);
    let starts: u32 = p
        .steps
        .iter()
        .map(|s| match s {
            Step::Start { count, .. } => *count,
            _ => 0,
        })
        .sum();
    let stops: u32 = p
        .steps
        .iter()
        .map(|s| match s {
            Step::Stop { count, .. } => count.unwrap_or(99),
            _ => 0,
        })
        .sum();
    assert_eq!((starts, stops), (3, 3));
    assert_eq!(p.steps[1], w(&[("v2", 1), ("v1", 2)]));
    // Never fewer than 3 ready instances: each stop follows a start of the same size.
    let mut running = 3i64;
    for step in &p.steps {
        match step {
            Step::Start { count, .. } => running += i64::from(*count),
            Step::Stop { count, .. } => running -= i64::from(count.unwrap_or(0)),
            _ => {}
        }
        assert!(running >= 3);
    }
}

#[test]
fn rolling_with_zero_surge_stops_first() {
    let s = service(
        "{ rolling: { max_surge: 0, max_unavailable: 1 } }",
        2,
        false,
    );
    let p = plan_deploy("web", &s, Some("v1"), "v2", &s.strategy);
    assert!(matches!(p.steps[1], Step::Stop { .. }));
    assert!(matches!(p.steps[2], Step::Start { .. }));
}

#[test]
fn rollback_switches_at_once_when_stable_is_ready() {
    let existing = BTreeMap::from([("v1".to_string(), (1, 1)), ("v2".to_string(), (1, 1))]);
    let p = plan_rollback("web", "v1", 1, &existing, 1000);
    assert_eq!(
        p.steps,
        vec![
            w(&[("v1", 100)]),
            Step::Stop {
                version: "v2".into(),
                count: None
            }
        ]
    );
    // Stable gone (e.g. after a finished rolling update): start it first.
    let existing = BTreeMap::from([("v2".to_string(), (2, 2))]);
    let p = plan_rollback("web", "v1", 2, &existing, 1000);
    assert_eq!(
        p.steps[0],
        Step::Start {
            version: "v1".into(),
            count: 2
        }
    );
    assert_eq!(p.steps[1], w(&[("v1", 100)]));
    assert_eq!(p.from.as_deref(), Some("v2"));
}
