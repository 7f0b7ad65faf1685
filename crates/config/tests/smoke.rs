//! `smoke:` checks are parsed by `gantry check`, so a typo fails before a run starts.

mod support;

use gantry_config::{ConfigError, SmokeCheck, SmokeTarget, StepAction};
use support::{BASE, expect_err, ok, pos_in};

fn with_steps(steps: &str) -> String {
    let head = BASE.split("    stages:\n").next().unwrap();
    format!("{head}    stages:\n      - name: verify\n        steps:\n{steps}")
}

#[track_caller]
fn expect_invalid(yaml: &str, at: (u64, u64), code: &str, text: &str) {
    let e = expect_err(yaml, at.0, at.1, code, text);
    assert!(matches!(e, ConfigError::Invalid(_)), "{e}");
}

#[test]
fn valid_smoke_checks_read_as_written() {
    let yaml = with_steps(
        "          - { smoke: \"GET / == 200\" }\n          - { smoke: \"GET /health == 2xx\" }\n          - { smoke: \"HEAD http://127.0.0.1:9000/x == 404\" }\n",
    );
    let config = ok(&yaml);
    let steps = &config.pipelines["release"].stages[0].steps;
    let checks: Vec<SmokeCheck> = steps
        .iter()
        .map(|s| match s.action() {
            Some(StepAction::Smoke(text)) => text.parse().unwrap(),
            other => panic!("not a smoke step: {other:?}"),
        })
        .collect();
    assert_eq!(checks[0].target, SmokeTarget::Path("/".into()));
    assert_eq!(checks[1].to_string(), "GET /health == 200..299");
    assert_eq!(
        checks[2].target,
        SmokeTarget::Url("http://127.0.0.1:9000/x".into())
    );
}

#[test]
fn bad_smoke_syntax_is_located() {
    let yaml = with_steps("          - { smoke: \"GET / = 200\" }\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "smoke: \"GET", "\"GET"),
        "gantry::config::smoke_syntax",
        "invalid smoke check 'GET / = 200'; expected `METHOD PATH == STATUS`",
    );
    let yaml = with_steps("          - { smoke: \"FETCH / == 200\" }\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "smoke: \"FETCH", "\"FETCH"),
        "gantry::config::smoke_syntax",
        "unknown HTTP method 'FETCH'",
    );
    let yaml = with_steps("          - { smoke: \"GET / == fine\" }\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "smoke: \"GET", "\"GET"),
        "gantry::config::smoke_syntax",
        "invalid status 'fine'",
    );
}

#[test]
fn a_path_needs_a_service() {
    let yaml = "project: shop\nagents:\n  planner: { id: PlanAgent }\npipelines:\n  release:\n    stages:\n      - name: verify\n        steps:\n          - { smoke: \"GET / == 200\" }\n";
    expect_invalid(
        yaml,
        pos_in(yaml, "smoke: \"GET", "\"GET"),
        "gantry::config::smoke_target",
        "names a path but there are no `services`",
    );
    let yaml = yaml.replace("GET /", "GET http://127.0.0.1:9/");
    ok(&yaml);
}
