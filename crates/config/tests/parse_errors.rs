//! YAML, schema and unit errors: each names file, line and column and shows the line.

mod support;

use gantry_config::{ConfigError, MAX_CONFIG_BYTES, load, parse};
use miette::Diagnostic;
use support::{BASE, err, expect_err};

#[test]
fn unknown_key_renders_with_caret() {
    let yaml = "project: shop\nservices:\n  web:\n    listen: 127.0.0.1:8080\n    instancs: 2\n";
    let e = expect_err(
        yaml,
        5,
        5,
        "gantry::config::unknown_field",
        "unknown field 'instancs'",
    );
    assert_eq!(
        e.to_string(),
        "gantry.yaml:5:5: unknown field 'instancs', expected one of listen, instances, env, \
         releases, releases_from, health, strategy, analysis, on_restart, resources, scaling, router\n  \
         |\n\
         5 |     instancs: 2\n  \
         |     ^^^^^^^^"
    );
    assert!(matches!(e, ConfigError::Parse(_)));
}

#[test]
fn unknown_top_level_key() {
    expect_err(
        "project: shop\npipeline: {}\n",
        2,
        1,
        "gantry::config::unknown_field",
        "unknown field 'pipeline', expected one of project, agents, ledger, services, pipelines",
    );
}

#[test]
fn unknown_key_in_step_and_checkpoint() {
    let yaml = BASE.replace(
        "          - run: cargo test\n",
        "          - run: cargo test\n            retry: 2\n",
    );
    expect_err(
        &yaml,
        17,
        13,
        "gantry::config::unknown_field",
        "unknown field 'retry'",
    );
    let yaml = format!("{BASE}        checkpoint: {{ role: planner, sumary: required }}\n");
    expect_err(
        &yaml,
        17,
        38,
        "gantry::config::unknown_field",
        "unknown field 'sumary'",
    );
}

#[test]
fn yaml_syntax_error() {
    let yaml = "project: shop\nagents:\n  planner: { id: PlanAgent\nledger: {}\n";
    let e = err(yaml);
    assert_eq!(e.code(), "gantry::config::syntax", "{e}");
    assert!(e.line().unwrap() >= 3, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("gantry.yaml:{}:", e.line().unwrap()))
    );
    let e = err("project: shop\n  bad indent: x\n");
    assert_eq!(e.code(), "gantry::config::syntax", "{e}");
    assert_eq!(e.line(), Some(2), "{e}");
}

#[test]
fn wrong_types() {
    let yaml = BASE.replace(
        "    listen: 127.0.0.1:8080\n",
        "    listen: 127.0.0.1:8080\n    instances: two\n",
    );
    expect_err(
        &yaml,
        8,
        16,
        "gantry::config::invalid_value",
        "expected a whole number from 0 to 4294967295, found 'two'",
    );
    let yaml = BASE.replace(
        "planner: { id: PlanAgent }",
        "planner: { id: PlanAgent, manual: maybe }",
    );
    expect_err(&yaml, 3, 37, "gantry::config::invalid_value", "maybe");
    expect_err(
        "project: shop\nagents: [planner]\n",
        2,
        9,
        "gantry::config::invalid_value",
        "expected a mapping",
    );
    expect_err(
        "project: shop\nnotify:\n  - teams: { webhook_env: X }\n",
        3,
        5,
        "gantry::config::unknown_variant",
        "unknown variant 'teams', expected one of slack, discord, webhook",
    );
    expect_err(
        "project: shop\nservices:\n  web:\n    releases: { v1: { run: ./web } }\n",
        4,
        5,
        "gantry::config::missing_field",
        "missing field 'listen'",
    );
}

#[test]
fn bad_durations() {
    let yaml = BASE.replace(
        "          - run: cargo test\n",
        "          - run: cargo test\n            timeout: 5 minutes\n",
    );
    expect_err(
        &yaml,
        17,
        22,
        "gantry::config::invalid_value",
        "invalid duration '5 minutes'; expected a duration such as 500ms",
    );
    for (bad, text) in [
        ("-1s", "negative duration '-1s'"),
        ("'1.5s'", "fractional duration '1.5s'"),
        ("10", "missing unit in duration '10'"),
        ("''", "empty duration"),
        (
            "99999999999999999999d",
            "duration '99999999999999999999d' is too large",
        ),
        ("30m1h", "largest to smallest"),
    ] {
        let yaml = BASE.replace(
            "          - run: cargo test\n",
            &format!("          - run: cargo test\n            heartbeat: {bad}\n"),
        );
        expect_err(&yaml, 17, 24, "gantry::config::invalid_value", text);
    }
}

#[test]
fn bad_percentages_and_thresholds() {
    let with_analysis = |a: &str| {
        BASE.replace(
            "    releases:\n",
            &format!("    analysis: {{ {a} }}\n    releases:\n"),
        )
    };
    expect_err(
        &with_analysis("error_rate: '< 101%'"),
        8,
        29,
        "gantry::config::invalid_value",
        "percentage '101%' is out of range 0% to 100%",
    );
    expect_err(
        &with_analysis("error_rate: '< 1'"),
        8,
        29,
        "gantry::config::invalid_value",
        "invalid percentage '1'",
    );
    expect_err(
        &with_analysis("error_rate: '1%'"),
        8,
        29,
        "gantry::config::invalid_value",
        "expected an operator (<, <=, >, >=) and a percentage",
    );
    expect_err(
        &with_analysis("latency_p99: '< 1%'"),
        8,
        30,
        "gantry::config::invalid_value",
        "invalid duration '1%'",
    );
    let rolling = BASE.replace(
        "    releases:\n",
        "    strategy: { rolling: { max_surge: 'lots' } }\n    releases:\n",
    );
    expect_err(
        &rolling,
        8,
        39,
        "gantry::config::invalid_value",
        "expected a count (1) or a percentage (25%)",
    );
}

#[test]
fn bad_listen_address() {
    let yaml = BASE.replace("listen: 127.0.0.1:8080", "listen: localhost:80");
    expect_err(
        &yaml,
        7,
        13,
        "gantry::config::invalid_value",
        "invalid listen address 'localhost:80'; expected IP:PORT",
    );
    let yaml = BASE.replace("listen: 127.0.0.1:8080", "listen: 8080");
    expect_err(
        &yaml,
        7,
        13,
        "gantry::config::invalid_value",
        "invalid listen address '8080'",
    );
}

#[test]
fn seal_every_zero() {
    expect_err(
        "project: shop\nledger:\n  seal_every: 0\n",
        3,
        15,
        "gantry::config::invalid_value",
        "seal_every must be at least 1",
    );
}

#[test]
fn empty_inputs() {
    expect_err(
        "",
        1,
        1,
        "gantry::config::invalid_value",
        "the file is empty",
    );
    expect_err(
        "project: ''\n",
        1,
        10,
        "gantry::config::invalid_value",
        "project name is empty",
    );
    expect_err(
        "project: shop\nproject: again\n",
        2,
        1,
        "gantry::config::invalid_value",
        "duplicate mapping key 'project'",
    );
}

#[test]
fn alias_bomb_fails_fast() {
    let mut yaml =
        String::from("project: shop\nreports:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        yaml.push_str(&format!("  {name}: &{name} [{refs}]\n"));
    }
    let start = std::time::Instant::now();
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::limit", "{e}");
    assert!(e.message().starts_with("input limit exceeded"), "{e}");
    assert!(e.line().unwrap() >= 3);
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn deep_nesting_fails_fast() {
    let flow = format!(
        "project: shop\nreports:\n  x: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let e = err(&flow);
    assert_eq!(e.code(), "gantry::config::limit", "{e}");
    assert_eq!(e.message(), "input limit exceeded: nesting is too deep");
    let block: String = (1..200)
        .map(|i| format!("{}k:\n", "  ".repeat(i)))
        .collect();
    let e = err(&format!("project: shop\nreports:\n{block}"));
    assert_eq!(e.code(), "gantry::config::limit", "{e}");
    assert_eq!(e.message(), "input limit exceeded: nesting is too deep");
}

#[test]
fn huge_input_is_refused() {
    let mut yaml = String::from("project: shop\nreports:\n");
    while yaml.len() <= MAX_CONFIG_BYTES {
        yaml.push_str("  # padding padding padding padding padding padding padding padding\n");
    }
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::limit");
    assert_eq!((e.line(), e.column()), (Some(1), Some(1)));
    assert!(e.message().contains("larger than 1024 KiB"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.code(), "gantry::config::limit");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:1:1: file is larger", path.display()))
    );
}

#[test]
fn load_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gantry.yaml");
    std::fs::write(&path, "project: shop\nledger: { seal_every: -1 }\n").unwrap();
    let e = load(&path).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}:2:23: ", path.display())),
        "{e}"
    );

    let missing = dir.path().join("missing.yaml");
    let e = load(&missing).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read {}", missing.display())),
        "{e}"
    );

    std::fs::write(
        &path,
        b"project: shop\nagents:\n  planner: { id: Pl\xffn }\n",
    )
    .unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.code(), "gantry::config::encoding");
    assert_eq!((e.line(), e.column()), (Some(3), Some(20)), "{e}");
    assert!(e.message().contains("invalid UTF-8 (byte 0xff)"));
}

#[test]
fn miette_diagnostic_points_at_the_span() {
    let yaml = "project: shop\nservices:\n  web:\n    listen: 127.0.0.1:8080\n    instancs: 2\n";
    let e = parse("gantry.yaml", yaml).unwrap_err();
    assert_eq!(
        Diagnostic::code(&e).unwrap().to_string(),
        "gantry::config::unknown_field"
    );
    let label = e.labels().unwrap().next().unwrap();
    assert_eq!(
        &yaml[label.offset()..label.offset() + label.len()],
        "instancs"
    );
    assert!(e.source_code().is_some());

    let fancy = e.into_diagnostic();
    assert_eq!(
        fancy.to_string(),
        "gantry.yaml:5:5: unknown field 'instancs', expected one of listen, instances, env, \
         releases, releases_from, health, strategy, analysis, on_restart, resources, scaling, router"
    );
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, fancy.as_ref())
        .unwrap();
    assert!(out.contains("gantry.yaml:5:5"), "{out}");
    assert!(out.contains("instancs: 2"), "{out}");
    assert_eq!(out.matches("instancs: 2").count(), 1, "{out}");

    let report =
        miette::Report::new_boxed(parse("gantry.yaml", yaml).unwrap_err().into_diagnostic());
    assert!(format!("{report:?}").contains("instancs"));
}
