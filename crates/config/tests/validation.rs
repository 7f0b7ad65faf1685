//! Semantic validation: each problem is a located `ConfigError::Invalid`.

mod support;

use gantry_config::{ConfigError, check};
use support::{BASE, expect_err, ok, pos_in};

/// BASE with its pipeline's stages replaced by `stages` (indented list items).
fn with_stages(stages: &str) -> String {
    let head = BASE.split("    stages:\n").next().unwrap();
    format!("{head}    stages:\n{stages}")
}

#[track_caller]
fn expect_invalid(yaml: &str, at: (u64, u64), code: &str, text: &str) {
    let e = expect_err(yaml, at.0, at.1, code, text);
    assert!(matches!(e, ConfigError::Invalid(_)), "{e}");
}

#[test]
fn needs_unknown_stage() {
    let yaml = with_stages(
        "      - name: build\n        steps: [ { run: make } ]\n      - name: test\n        needs: [bild]\n        steps: [ { run: make test } ]\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "needs: [bild]", "bild"),
        "gantry::config::unknown_stage",
        "stage 'test' needs 'bild', which is not a stage of pipeline 'release' (stages: build, test) (did you mean 'build'?)",
    );
    assert_eq!(pos_in(&yaml, "needs: [bild]", "bild"), (17, 17));
}

#[test]
fn needs_cycle_is_named() {
    let yaml = with_stages(
        "      - name: a\n        needs: [c]\n      - name: b\n        needs: [a]\n      - name: c\n        needs: [b]\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "needs: [c]", "c"),
        "gantry::config::stage_cycle",
        "stages of pipeline 'release' form a cycle: a -> c -> b -> a",
    );
    // A stage that needs itself.
    let yaml = with_stages("      - name: a\n        needs: [a]\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "needs: [a]", "a]"),
        "gantry::config::stage_cycle",
        "form a cycle: a -> a",
    );
    // A cycle through an implicit dependency (b waits for a because it follows it).
    let yaml = with_stages("      - name: a\n        needs: [b]\n      - name: b\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "needs: [b]", "b]"),
        "gantry::config::stage_cycle",
        "a -> b -> a",
    );
}

#[test]
fn duplicate_stage_names() {
    let yaml = with_stages("      - name: ci\n      - name: deploy\n      - name: ci\n");
    expect_invalid(
        &yaml,
        (16, 15),
        "gantry::config::duplicate_stage",
        "pipeline 'release' already has a stage named 'ci' (line 14)",
    );
}

#[test]
fn step_without_or_with_several_actions() {
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - name: nothing\n            timeout: 1m\n",
    );
    expect_invalid(
        &yaml,
        (16, 13),
        "gantry::config::step_action",
        "step in stage 'ci' has no action; give exactly one of run, deploy, smoke, doctor or status",
    );
    let yaml =
        with_stages("      - name: ci\n        steps:\n          - { run: make, deploy: web }\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "deploy: web", "web"),
        "gantry::config::step_action",
        "step in stage 'ci' has several actions (run, deploy)",
    );
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - { smoke: 'GET / == 200', run: make }\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "smoke: 'GET", "'GET"),
        "gantry::config::step_action",
        "several actions (run, smoke)",
    );
}

#[test]
fn features_not_built_are_refused_where_they_are_written() {
    // Issue 8 (no inert configuration): the `doctor:` and `status:` steps and `reports:`
    // would do nothing, so `check` refuses them at their line.
    let yaml = with_stages("      - name: ci\n        steps:\n          - { doctor: true }\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "doctor: true", "true"),
        "gantry::config::not_supported",
        "the `doctor:` step (pipeline 'release', stage 'ci') is not supported yet",
    );
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - { status: { format: json, output: s.json } }\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "status: {", "{"),
        "gantry::config::not_supported",
        "the `status:` step (pipeline 'release', stage 'ci') is not supported yet",
    );
    let yaml = format!("{BASE}reports:\n  status: docs/STATUS.md\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "  status: docs", "status"),
        "gantry::config::not_supported",
        "`reports:` is not supported yet",
    );
}

#[test]
fn deploy_of_unknown_service_or_release() {
    let yaml = with_stages("      - name: ship\n        steps:\n          - { deploy: wbe }\n");
    expect_invalid(
        &yaml,
        (16, 23),
        "gantry::config::unknown_service",
        "step in stage 'ship' deploys 'wbe', which is not in `services` (services: web) (did you mean 'web'?)",
    );
    let yaml = with_stages(
        "      - name: ship\n        steps:\n          - { deploy: web, version: v9 }\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "version: v9", "v9"),
        "gantry::config::unknown_version",
        "service 'web' has no release 'v9' (releases: v1)",
    );
}

#[test]
fn deploy_only_fields_on_other_steps() {
    let yaml =
        with_stages("      - name: ci\n        steps:\n          - { run: make, env: staging }\n");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "env: staging", "staging"),
        "gantry::config::deploy_only",
        "`env: <name>` applies only to deploy steps (stage 'ci'); for environment variables write a mapping",
    );
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - { run: make, strategy: canary }\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "canary", "canary"),
        "gantry::config::deploy_only",
        "`strategy: <name>`",
    );
}

#[test]
fn checkpoint_role_not_in_agents() {
    let yaml = format!("{BASE}        checkpoint: {{ role: operater }}\n");
    expect_invalid(
        &yaml,
        (17, 29),
        "gantry::config::unknown_role",
        "checkpoint of stage 'ci' names role 'operater', which is not in `agents` (roles: planner, verifier)",
    );
}

#[test]
fn canary_weights() {
    let canary = |steps: &str| {
        BASE.replace(
            "    releases:\n",
            &format!("    strategy: {{ canary: {{ steps: [{steps}] }} }}\n    releases:\n"),
        )
    };
    let yaml = canary("{weight: 50}, {weight: 20}");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "weight: 20", "20"),
        "gantry::config::canary_weights",
        "canary weights of service 'web' must increase: 20 follows 50",
    );
    let yaml = canary("{weight: 50}, {weight: 50}");
    expect_invalid(
        &yaml,
        (8, 58),
        "gantry::config::canary_weights",
        "must increase: 50 follows 50",
    );
    let yaml = canary("{weight: 10}, {weight: 150}");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "150", "150"),
        "gantry::config::canary_weights",
        "canary weight 150 of service 'web' is over 100",
    );
    let yaml = canary("");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "[]", "["),
        "gantry::config::canary_weights",
        "has no steps",
    );
    ok(&canary(
        "{weight: 0}, {weight: 10, pause: 5s}, {weight: 100}",
    ));
}

#[test]
fn duplicate_listen_addresses() {
    let yaml = BASE.replace(
        "pipelines:",
        "  api:\n    listen: 127.0.0.1:8080\n    releases: { v1: { run: ./api } }\npipelines:",
    );
    expect_invalid(
        &yaml,
        (12, 13),
        "gantry::config::duplicate_listen",
        "listen address 127.0.0.1:8080 of service 'api' is already used by service 'web' (line 7)",
    );
    let yaml = BASE.replace(
        "    releases:\n",
        "    strategy: { blue_green: { preview_listen: 127.0.0.1:8080 } }\n    releases:\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "preview_listen: 127", "127"),
        "gantry::config::duplicate_listen",
        "of the preview of service 'web' is already used by service 'web'",
    );
}

#[test]
fn empty_release_command() {
    let yaml = BASE.replace("run: ./web --port {port}", "run: '  '");
    expect_invalid(
        &yaml,
        (10, 14),
        "gantry::config::empty_run",
        "release 'v1' of service 'web' has an empty `run` command",
    );
}

#[test]
fn other_service_checks() {
    let yaml = BASE.replace("    releases:\n", "    instances: 0\n    releases:\n");
    expect_invalid(
        &yaml,
        (8, 16),
        "gantry::config::instances",
        "`instances: 0`",
    );
    let yaml = BASE.replace(
        "    releases:\n      v1:\n        run: ./web --port {port}\n",
        "    releases: {}\n",
    );
    expect_invalid(
        &yaml,
        (7, 5),
        "gantry::config::no_releases",
        "service 'web' has no releases",
    );
    let probe = |p: &str| {
        BASE.replace(
            "    releases:\n",
            &format!("    health: {{ readiness: {p} }}\n    releases:\n"),
        )
    };
    let yaml = probe("{ period: 1s }");
    expect_invalid(
        &yaml,
        (8, 26),
        "gantry::config::probe_check",
        "readiness probe of service 'web' has no check",
    );
    let yaml = probe("{ http: /health, tcp: true }");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "tcp: true", "true"),
        "gantry::config::probe_check",
        "several checks (http, tcp)",
    );
    let yaml = probe("{ http: /health, failure_threshold: 0 }");
    expect_invalid(
        &yaml,
        pos_in(&yaml, "threshold: 0", "0"),
        "gantry::config::probe_threshold",
        "`failure_threshold` must be at least 1",
    );
    let yaml = BASE.replace(
        "    releases:\n",
        "    strategy: { rolling: { max_surge: 0, max_unavailable: 0% } }\n    releases:\n",
    );
    expect_invalid(
        &yaml,
        pos_in(&yaml, "0%", "0%"),
        "gantry::config::rolling",
        "cannot both be 0",
    );
    let yaml = BASE.replace(
        "    releases:\n",
        "    analysis: { failure_limit: 0 }\n    releases:\n",
    );
    expect_invalid(
        &yaml,
        (8, 32),
        "gantry::config::analysis",
        "`failure_limit` must be at least 1",
    );
}

#[test]
fn agents_monitor_and_notify_checks() {
    let yaml = BASE.replace(
        "verifier: { id: ReviewAgent }",
        "verifier: { id: ReviewAgent, command: ./review.sh, manual: true }",
    );
    expect_invalid(
        &yaml,
        (4, 13),
        "gantry::config::agent_mode",
        "sets both `command` and `manual: true`",
    );
    let yaml = format!("{BASE}monitor:\n  schedule: '61 * * * *'\n");
    expect_invalid(
        &yaml,
        (18, 13),
        "gantry::config::cron",
        "invalid cron schedule '61 * * * *': 61 is out of range 0-59 for the minute field",
    );
    let yaml = format!("{BASE}monitor:\n  targets:\n    api: {{ timeout: 5s }}\n");
    expect_invalid(
        &yaml,
        (19, 10),
        "gantry::config::monitor_target",
        "monitor target 'api' has no check",
    );
    let yaml = format!("{BASE}notify:\n  - webhook: {{ headers: {{ X: y }} }}\n");
    expect_invalid(
        &yaml,
        (18, 14),
        "gantry::config::webhook_url",
        "webhook needs exactly one of `url` or `url_env`",
    );
}

#[test]
fn check_reports_every_problem_in_file_order() {
    let yaml = with_stages(
        "      - name: a\n        needs: [zz]\n        steps: [ {} ]\n        checkpoint: { role: nobody }\n      - name: a\n",
    );
    let errors = check("gantry.yaml", &yaml).unwrap_err();
    let summary: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| (e.line().unwrap(), e.code()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (15, "gantry::config::unknown_stage"),
            (16, "gantry::config::step_action"),
            (17, "gantry::config::unknown_role"),
            (18, "gantry::config::duplicate_stage"),
        ]
    );
}

#[test]
fn stage_order_layers() {
    let yaml = with_stages(
        "      - name: build\n      - name: lint\n        needs: []\n      - name: test\n        needs: [build]\n      - name: package\n        needs: [test, lint]\n      - name: deploy\n",
    );
    let config = ok(&yaml);
    assert_eq!(
        config.stage_order("release").unwrap(),
        vec![vec![0, 1], vec![2], vec![3], vec![4]]
    );
    assert_eq!(
        config.pipelines["release"].dependencies().unwrap(),
        vec![vec![], vec![], vec![0], vec![2, 1], vec![3]]
    );
    assert!(config.stage_order("nope").is_err());
}

#[test]
fn empty_sections_read_as_empty() {
    let config = ok(
        "project: shop\nagents:\nservices:\npipelines:\nnotify:\n# - slack: { webhook_env: X }\n",
    );
    assert!(config.agents.is_empty() && config.services.is_empty() && config.notify.is_empty());
    let yaml = with_stages("      - name: ci\n        steps:\n        # - run: make\n");
    assert!(ok(&yaml).pipelines["release"].stages[0].steps.is_empty());
}
