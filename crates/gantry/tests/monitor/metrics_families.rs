//! `/metrics` after real work — a deploy under load, a second deploy, a manual rollback and
//! a pipeline run — has every family the issue lists, in text a Prometheus tool parses
//! (`promtool check metrics`), and every metric the Grafana dashboard in
//! `contrib/grafana/gantry.json` queries.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::load::Load;
use gantry_test_support::serve::Serve;

use super::prom::which;
use super::{BIN, HttpTarget};

const DASHBOARD: &str = include_str!("../../../../contrib/grafana/gantry.json");

fn project(target: &HttpTarget) -> (TestProject, u16) {
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    let port = free_port();
    let p = TestProject::init(BIN);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            r#"project: families
policy: {{ default: warning }}
agents:
  operator: {{ id: Ops }}
services:
  web:
    listen: 127.0.0.1:{port}
    releases:
      v1: {{ run: "{d} --port {{port}} --version v1" }}
      v2: {{ run: "{d} --port {{port}} --version v2" }}
    health:
      readiness: {{ http: /health, period: 100ms }}
pipelines:
  release:
    stages:
      - name: ci
        steps: [ {{ run: "true" }} ]
monitor:
  interval: 300ms
  targets:
    api: {{ http: "{}" }}
"#,
            target.url("/health")
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    (p, port)
}

fn scrape(serve: &Serve, p: &TestProject) -> String {
    let token = std::fs::read_to_string(p.path().join(".gantry/admin.token")).unwrap();
    let out = Command::new("curl")
        .args([
            "-sf",
            "-H",
            &format!("Authorization: Bearer {}", token.trim()),
        ])
        .arg(format!("{}/metrics", serve.url))
        .output()
        .unwrap();
    assert!(out.status.success(), "GET /metrics failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Names of the samples in the text (`name{…} value` or `name value`).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string())
        .collect()
}

/// Every `gantry_…` name in the dashboard's queries (panels and annotations).
fn dashboard_metrics() -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in v["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().expect("targets") {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    for a in v["annotations"]["list"].as_array().expect("annotations") {
        exprs.push(a["expr"].as_str().expect("annotation expr").to_string());
    }
    for t in v["templating"]["list"].as_array().expect("templating") {
        exprs.push(t["definition"].as_str().unwrap_or_default().to_string());
    }
    let mut names = BTreeSet::new();
    for e in exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("gantry_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.insert(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names
}

#[test]
fn metrics_have_every_family_after_a_deploy_and_the_dashboard_queries_only_those() {
    let target = HttpTarget::start();
    let (p, port) = project(&target);
    let serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let load = Load::start(std::net::SocketAddr::from(([127, 0, 0, 1], port)), 100, 2);
    super::prometheus_analysis::until_answers(&load, 50);
    p.gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    p.gantry(&["rollback", "web", "--to", "v1"]).ok();
    p.gantry(&["run", "release"]).ok();
    let stats = load.stop();
    assert_eq!(stats.failures(&[]), 0, "{stats:?}");

    // The monitor counts the run and the rollback as their entries land, and sets the
    // gauges (weights, phases) from the state at its next round: both within a round or two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = scrape(&serve, &p);
        if (text.contains("gantry_pipeline_runs_total{")
            && text.contains("gantry_rollbacks_total{")
            && text.contains("gantry_traffic_weight_percent{service=\"web\",version=\"v1\"} 100"))
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let names = sample_names(&text);
    for family in [
        // router: requests by service, version and code class; latency histograms; the
        // newer counters
        "gantry_router_requests_total",
        "gantry_router_request_duration_seconds_bucket",
        "gantry_router_request_duration_seconds_sum",
        "gantry_router_request_duration_seconds_count",
        "gantry_router_connect_errors_total",
        "gantry_router_upstream_errors_total",
        "gantry_router_upgrades_total",
        "gantry_router_open_upgrades",
        "gantry_router_client_errors_total",
        "gantry_router_rejected_total",
        "gantry_router_window_requests",
        // traffic, deployments, rollbacks
        "gantry_traffic_weight_percent",
        "gantry_deployment_phase",
        "gantry_rollbacks_total",
        "gantry_instances_ready",
        "gantry_instances_desired",
        // probes and status
        "gantry_probe_success",
        "gantry_probes_total",
        "gantry_probe_duration_seconds_bucket",
        "gantry_status",
        "gantry_service_status",
        "gantry_check_rounds_total",
        "gantry_check_round_lateness_seconds_count",
        "gantry_probe_lateness_seconds_count",
        // pipelines and the ledger
        "gantry_pipeline_runs_total",
        "gantry_pipeline_run_duration_seconds_count",
        "gantry_ledger_entries",
        "gantry_ledger_writable",
        "gantry_ledger_verify_success",
        "gantry_ledger_verify_timestamp_seconds",
    ] {
        assert!(names.contains(family), "no {family} samples in:\n{text}");
    }
    for needle in [
        "gantry_router_requests_total{service=\"web\",version=\"v1\",code=\"2xx\"}",
        "gantry_router_request_duration_seconds_bucket{le=\"+Inf\",service=\"web\",version=\"v1\"}",
        "gantry_rollbacks_total{service=\"web\",trigger=\"manual\"} 1",
        "gantry_pipeline_runs_total{pipeline=\"release\",status=\"succeeded\"} 1",
        "gantry_ledger_verify_success 1",
        "gantry_traffic_weight_percent{service=\"web\",version=\"v1\"} 100",
    ] {
        assert!(text.contains(needle), "metrics lack {needle:?}:\n{text}");
    }
    // The 2xx count is at least what the load saw answered by v1.
    let ok_v1: u64 = text
        .lines()
        .find(|l| {
            l.starts_with(
                "gantry_router_requests_total{service=\"web\",version=\"v1\",code=\"2xx\"}",
            )
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(
        ok_v1 >= stats.served_by("v1"),
        "{ok_v1} < {}",
        stats.served_by("v1")
    );

    // Every metric the dashboard queries is exported.
    let queried = dashboard_metrics();
    assert!(queried.len() >= 10, "{queried:?}");
    for m in &queried {
        assert!(
            names.contains(m),
            "the dashboard queries {m}, which /metrics lacks:\n{text}"
        );
    }

    // A Prometheus tool reads the text (promtool ships with Debian's prometheus).
    match which("promtool") {
        Some(promtool) => {
            let mut child = Command::new(promtool)
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            // promtool 2.x lints the classic text format, where a counter's HELP names
            // `x_total`; OpenMetrics names the family `x`. That one finding is expected for
            // counters whose family HELP is there; anything else (a parse error too) fails.
            let report = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            let unexpected: Vec<&str> = report
                .lines()
                .filter(|l| !l.trim().is_empty())
                .filter(|l| {
                    let Some(name) = l.strip_suffix(" no help text") else {
                        return true;
                    };
                    let family = name.strip_suffix("_total").unwrap_or("");
                    family.is_empty()
                        || !text.contains(&format!("# HELP {family} "))
                        || !text.contains(&format!("# TYPE {family} counter"))
                })
                .collect();
            assert!(
                unexpected.is_empty(),
                "promtool check metrics: {unexpected:?}\n{report}"
            );
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "promtool is not installed (apt-get install -y prometheus)"
            );
            eprintln!(
                "promtool check skipped: promtool is not installed (apt-get install -y prometheus)"
            );
        }
    }
    drop(serve);
}
