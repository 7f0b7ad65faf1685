//! The `gantry init` example: parses, round-trips, and has the documented shape.

mod support;

use gantry_config::{
    AgentMode, Condition, Duration, EXAMPLE, Percent, StepAction, Strategy, Summary, example, load,
    parse,
};

#[test]
fn example_parses_with_expected_shape() {
    let config = parse("gantry.yaml", EXAMPLE).unwrap();
    let ids: Vec<(&str, &str)> = config
        .agents
        .iter()
        .map(|(role, agent)| (role.as_str(), agent.id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("operator", "OperationsBoardAgent"),
            ("planner", "PlanAgent"),
            ("verifier", "ReviewAgent")
        ]
    );
    assert!(
        config
            .agents
            .values()
            .all(|a| a.mode() == AgentMode::BuiltIn)
    );
    assert_eq!(config.ledger.seal_every, 1000);

    let web = &config.services["web"];
    assert_eq!(web.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        web.releases["v2"].command_for_port(4100),
        "demo-app --port 4100 --version v2"
    );
    let readiness = web.health.readiness.as_ref().unwrap();
    assert_eq!(*readiness.timeout, Duration::from_millis(500));
    assert_eq!(*readiness.success_threshold, 1, "Kubernetes default");
    let Strategy::Canary(canary) = &web.strategy else {
        panic!("example uses a canary")
    };
    let weights: Vec<u8> = canary.steps.iter().map(|s| *s.weight).collect();
    assert_eq!(weights, [10, 50]);
    let analysis = web.analysis.as_ref().unwrap();
    assert!(
        analysis
            .error_rate
            .unwrap()
            .is_met_by(Percent::new(0.5).unwrap())
    );
    assert!(
        !analysis
            .latency_p99
            .unwrap()
            .is_met_by(Duration::from_millis(800))
    );

    let release = &config.pipelines["release"];
    let names: Vec<&str> = release.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "safety-gate",
            "ci",
            "deploy",
            "monitor",
            "rollback-if-needed",
            "status"
        ]
    );
    let signers: Vec<&str> = release
        .stages
        .iter()
        .filter_map(|s| s.checkpoint.as_ref().map(|c| c.role.as_str()))
        .collect();
    assert_eq!(signers, ["planner", "operator", "verifier"]);
    assert_eq!(
        release.stages[3].checkpoint.as_ref().unwrap().summary,
        Summary::Required
    );
    assert_eq!(release.stages[4].condition, Some(Condition::Failure));
    assert_eq!(release.stages[5].condition, Some(Condition::Always));
    assert!(
        release
            .stages
            .iter()
            .flat_map(|s| &s.steps)
            .all(|step| matches!(step.action(), Some(StepAction::Run(_))))
    );
    assert_eq!(
        config.stage_order("release").unwrap(),
        vec![vec![0], vec![1], vec![2], vec![3], vec![4], vec![5]]
    );
    assert_eq!(release.report_path(), "docs/reports/DEPLOYMENT_OUTCOMES.md");
    assert!(config.monitor.is_some());
    assert!(config.notify.is_empty());
}

#[test]
fn example_round_trips_through_yaml_and_json() {
    let config = parse("gantry.yaml", EXAMPLE).unwrap();
    let yaml = serde_saphyr::to_string(&config).unwrap();
    let again = parse("roundtrip.yaml", &yaml).unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"));
    assert_eq!(config, again);
    // Serializing the re-read config gives the same text: a fixed point.
    assert_eq!(serde_saphyr::to_string(&again).unwrap(), yaml);

    let json = serde_json::to_string(&config).unwrap();
    let from_json: gantry_config::Config = serde_json::from_str(&json).unwrap();
    assert_eq!(config, from_json);
}

#[test]
fn example_with_project_name_loads_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.yaml");
    std::fs::write(&path, example("shop: main")).unwrap();
    let config = load(&path).unwrap();
    assert_eq!(config.project, "shop: main");
    assert!(example("shop").contains("\nproject: shop\n"));
    // Every line but the project's is the same as EXAMPLE.
    assert_eq!(example("shop").lines().count(), EXAMPLE.lines().count());
}

#[test]
fn example_is_commented() {
    let comments = EXAMPLE
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count();
    assert!(comments >= 30, "only {comments} comment lines");
    for section in [
        "agents:",
        "ledger:",
        "services:",
        "pipelines:",
        "monitor:",
        "notify:",
    ] {
        let at = EXAMPLE.find(&format!("\n{section}")).unwrap();
        let before = EXAMPLE[..at].lines().last().unwrap();
        assert!(before.starts_with('#'), "no comment above {section}");
    }
}
