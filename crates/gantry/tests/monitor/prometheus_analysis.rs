//! `analysis.prometheus` against a real Prometheus that scrapes this very control plane:
//! a canary whose 5xx ratio (a query over gantry's own metrics) breaks the threshold is
//! rolled back because of the query, and a good one is promoted on passing queries.
//! The analysis has no router rule, so only the query can decide.

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::load::Load;
use gantry_test_support::serve::Serve;
use serde_json::Value;

use super::BIN;
use super::prom::{self, Prometheus};

const QUERY: &str = r#"sum(gantry_router_window_errors_5xx{service="{{service}}",version="{{version}}"}) / sum(gantry_router_window_requests{service="{{service}}",version="{{version}}"})"#;

fn project(prom_port: u16) -> (TestProject, u16) {
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    let port = free_port();
    let p = TestProject::init(BIN);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            r#"project: promtest
policy: {{ default: warning }}
agents:
  operator: {{ id: Ops }}
services:
  web:
    listen: 127.0.0.1:{port}
    releases:
      v1: {{ run: "{d} --port {{port}} --version v1" }}
      v2: {{ run: "{d} --port {{port}} --version v2" }}
      v3: {{ run: "{d} --port {{port}} --version v3 --error-rate 0.5" }}
    health:
      readiness: {{ http: /health, period: 100ms }}
    strategy: {{ canary: {{ steps: [ {{ weight: 50, pause: 12s }} ], progress_deadline: 30s }} }}
    analysis:
      window: 1s
      prometheus:
        url: "http://127.0.0.1:{prom_port}"
        query: '{QUERY}'
        threshold: "< 0.05"
monitor:
  interval: 250ms
"#
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    (p, port)
}

fn entries(p: &TestProject) -> Vec<Value> {
    p.ledger_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_prometheus_query_rolls_back_a_bad_canary_and_promotes_a_good_one() {
    let Some(bin) = prom::binary() else { return };
    let prom_port = free_port();
    let (p, port) = project(prom_port);
    let serve = Serve::start(&p);
    let api = serve.url.trim_start_matches("http://").to_string();
    let prom = Prometheus::start(
        &bin,
        &p.path().join("prom"),
        prom_port,
        &api,
        &p.path().join(".gantry/admin.token"),
    );
    prom::with_log(&prom, || {
        p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
            .ok();
        let load = Load::start(std::net::SocketAddr::from(([127, 0, 0, 1], port)), 100, 4);

        // The bad canary: half its answers are 5xx; the query sees it and rolls it back.
        let run = p
            .gantry(&["deploy", "web", "--version", "v3", "--wait"])
            .fails_with(3)
            .says("rolled back");
        assert!(
            run.stdout().contains("prometheus query = "),
            "{}",
            run.stdout()
        );
        let all = entries(&p);
        let trigger = all
            .iter()
            .find(|e| e["kind"] == "rollback.triggered")
            .expect("rollback.triggered");
        let body = &trigger["body"];
        assert_eq!(body["from"], "v3");
        assert_eq!(body["to"], "v1");
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("prometheus query = "), "{body}");
        assert!(reason.contains("breaks \"< 0.05\""), "{body}");
        let value = body["prometheus"]["value"].as_f64().unwrap();
        assert!(value > 0.05, "{body}");
        assert!(
            body["prometheus"]["query"]
                .as_str()
                .unwrap()
                .contains(r#"version="v3""#),
            "the placeholders were filled in: {body}"
        );
        // Prometheus itself held the figure the verdict used. Over the last minute, not
        // now: once v3 has no traffic its series leave gantry's /metrics and Prometheus
        // marks them stale at the next scrape, so an instant query may find nothing.
        let query = QUERY
            .replace("{{service}}", "web")
            .replace("{{version}}", "v3");
        let seen = prom
            .query(&format!("max_over_time(({query})[1m:250ms])"))
            .and_then(|v| v.as_str().and_then(|s| s.parse::<f64>().ok()));
        assert!(seen.is_some_and(|v| v > 0.05), "{seen:?}");

        // The good canary: its ratio is 0, the pause elapses and it is promoted.
        p.gantry(&["deploy", "web", "--version", "v2", "--wait"])
            .ok();
        let ps = p.gantry(&["ps", "--json"]).ok().json();
        assert_eq!(ps["services"][0]["stable"], "v2", "{ps:#}");
        let log = serve.log_text();
        let passes = log
            .lines()
            .filter(|l| {
                l.contains("prometheus analysis")
                    && l.contains("version=v2")
                    && l.contains("verdict=Pass")
            })
            .count();
        assert!(
            passes > 0,
            "no passing query for v2 in the serve log:\n{log}"
        );
        let stats = load.stop();
        assert_eq!(stats.failures(&["v3"]), 0, "{stats:?}");
    });
    drop(serve);
}

/// Waits until `load` got `n` more answers than now, or panics after 30 s.
pub fn until_answers(load: &Load, n: u64) {
    let want = load.snapshot().requests + n;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while load.snapshot().requests < want {
        assert!(
            std::time::Instant::now() < deadline,
            "the load did not send {n} more requests in 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
