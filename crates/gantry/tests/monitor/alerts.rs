//! Alert rules: evaluated by `gantry serve` (firing and resolving through the channels,
//! ledger entries, the status report), and exported for Prometheus, checked with the real
//! `promtool`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::serve::Serve;
use serde_json::Value;

use super::receiver::{Receiver, Shape};
use super::{BIN, HttpTarget};

fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn entries(p: &TestProject, kind: &str) -> Vec<Value> {
    p.ledger_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn project(target: &HttpTarget, hook: &Receiver) -> TestProject {
    let p = TestProject::init(BIN);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            r#"project: alerting
policy: {{ default: warning }}
agents:
  operator: {{ id: Ops }}
services:
  web:
    listen: 127.0.0.1:1
    releases: {{ v1: {{ run: "true" }} }}
monitor:
  interval: 200ms
  targets:
    api: {{ http: "{}" }}
notify:
  - webhook: {{ url: "{}", group_wait: 0s, group_interval: 1s }}
alerts:
  - {{ name: api-down, when: {{ target: api, down_for: 1s }}, severity: error, runbook: "https://runbooks.example/api" }}
  - {{ name: web-errors, when: {{ service: web, error_rate_above: 5%, over: 1m }} }}
  - {{ name: web-slow, when: {{ service: web, p99_above: 300ms, over: 1m }}, severity: info }}
  - {{ name: web-rolled-back, when: {{ rollback: web }} }}
  - {{ name: channels, when: {{ notifications_failing: true }} }}
"#,
            target.url("/health"),
            hook.url()
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    p
}

#[test]
fn an_alert_fires_after_its_hold_and_resolves_through_the_channels_and_the_ledger() {
    let target = HttpTarget::start();
    let hook = Receiver::start(Shape::Webhook);
    let p = project(&target, &hook);
    let serve = Serve::start(&p);
    wait_for(20, "a first report", || {
        p.gantry(&["status", "--json"]).json()["status"]
            .is_string()
            .then_some(())
    });
    target.answer(503, "down");
    let down_at = Instant::now();
    let fired = wait_for(30, "alert.firing", || {
        entries(&p, "alert.firing").into_iter().next()
    });
    // Held for down_for (1 s) before firing.
    assert!(down_at.elapsed() >= Duration::from_secs(1));
    assert_eq!(fired["actor"]["role"], "gantry");
    assert_eq!(fired["body"]["name"], "api-down");
    assert_eq!(fired["body"]["severity"], "error");
    assert_eq!(fired["body"]["runbook"], "https://runbooks.example/api");
    assert!(
        fired["body"]["detail"]
            .as_str()
            .unwrap()
            .contains("status 503"),
        "{fired}"
    );
    // The report lists it, and an error alert makes the status CRITICAL.
    let v = wait_for(20, "the alert in the report", || {
        let v = p.gantry(&["status", "--json"]).json();
        v["reasons"]
            .to_string()
            .contains("alert api-down")
            .then_some(v)
    });
    assert_eq!(v["status"], "CRITICAL", "{v:#}");
    // Its section lists every rule, firing or not, with since, severity and runbook.
    let rules = v["alerts"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "api-down",
            "web-errors",
            "web-slow",
            "web-rolled-back",
            "channels"
        ]
    );
    assert_eq!(rules[0]["state"], "firing", "{:#}", rules[0]);
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    // Since when: the evaluation that fired it, recorded moments later.
    let lag = at(&fired["ts"]) - at(&rules[0]["since"]);
    assert!(lag.num_seconds().abs() <= 2, "{lag} {:#}", rules[0]);
    assert_eq!(rules[0]["severity"], "error");
    assert_eq!(rules[0]["runbook"], "https://runbooks.example/api");
    assert_eq!(
        rules[0]["condition"],
        "gantry_probe_success{target=\"api\"} == 0"
    );
    assert!(rules[1..].iter().all(|a| a["state"] == "ok"), "{rules:#?}");
    assert_eq!(rules[2]["severity"], "info");
    let md = std::fs::read_to_string(p.path().join(".gantry/status.md")).unwrap();
    assert!(md.contains("## Alerts"), "{md}");
    assert!(
        md.lines()
            .any(|l| l.starts_with("| api-down | error | 🔥 firing | ")
                && l.contains("https://runbooks.example/api")),
        "{md}"
    );
    // The channel's last delivery (the status changes it was sent).
    let ch = &v["notifications"][0];
    assert_eq!(
        (ch["name"].as_str(), ch["kind"].as_str()),
        (Some("webhook"), Some("webhook"))
    );
    assert!(ch["sent"].as_u64().unwrap() >= 1, "{ch:#}");
    assert_eq!(ch["last"], "sent", "{ch:#}");
    let msg = wait_for(20, "the alert on the webhook", || {
        hook.messages()
            .into_iter()
            .find(|m| m["group"] == "alert api-down" && m["status"] == "firing")
    });
    assert_eq!(msg["severity"], "error");
    assert_eq!(msg["fields"]["runbook"], "https://runbooks.example/api");

    target.answer(200, "ok");
    let resolved = wait_for(30, "alert.resolved", || {
        entries(&p, "alert.resolved").into_iter().next()
    });
    assert_eq!(resolved["body"]["name"], "api-down");
    wait_for(20, "the resolved message", || {
        hook.messages()
            .into_iter()
            .find(|m| m["group"] == "alert api-down" && m["status"] == "resolved")
    });
    // Only the rule whose condition held fired: the others saw no requests or rollback.
    let names: Vec<Value> = entries(&p, "alert.firing")
        .iter()
        .map(|e| e["body"]["name"].clone())
        .collect();
    assert_eq!(names, ["api-down"]);

    // A restart does not fire it again, nor forget a firing one.
    target.answer(503, "down again");
    wait_for(30, "a second firing", || {
        (entries(&p, "alert.firing").len() == 2).then_some(())
    });
    let mut serve = serve;
    serve.stop();
    let serve = Serve::start(&p);
    wait_for(20, "the report after the restart", || {
        let v = p.gantry(&["status", "--json"]).json();
        v["reasons"]
            .to_string()
            .contains("alert api-down")
            .then_some(())
    });
    assert_eq!(entries(&p, "alert.firing").len(), 2);
    drop(serve);
}

fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is not installed (apt-get install -y prometheus; scripts/test.sh does)"
        );
        eprintln!("skipped: promtool is not installed (apt-get install -y prometheus)");
    }
    found
}

#[test]
fn exported_rules_pass_promtool_and_fire_on_gantrys_metric_names() {
    let Some(promtool) = promtool() else { return };
    let target = HttpTarget::start();
    let hook = Receiver::start(Shape::Webhook);
    let p = project(&target, &hook);
    let out = p.path().join("rules.yml");
    p.gantry(&["alerts", "export", "--out", out.to_str().unwrap()])
        .ok()
        .says("wrote 5 alert rule(s)");
    let check = std::process::Command::new(&promtool)
        .args(["check", "rules"])
        .arg(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{said}");
    assert!(said.contains("SUCCESS: 5 rules found"), "{said}");

    // promtool's unit tests: the expressions fire on series named as gantry exports them.
    let tests = p.path().join("rules_test.yml");
    std::fs::write(
        &tests,
        r#"rule_files: [rules.yml]
evaluation_interval: 1s
tests:
  - interval: 1s
    input_series:
      - series: 'gantry_probe_success{target="api"}'
        values: '1 0 0 0 0 0'
      - series: 'gantry_deployment_phase{service="web",phase="rolled_back"}'
        values: '1 1 1 1 1 1'
      - series: 'gantry_router_window_requests{service="web",version="v1"}'
        values: '100x70'
      - series: 'gantry_router_window_errors_5xx{service="web",version="v1"}'
        values: '10x70'
    alert_rule_test:
      - eval_time: 1s
        alertname: api-down
        exp_alerts: []
      - eval_time: 3s
        alertname: api-down
        exp_alerts:
          - exp_labels: { severity: error, project: alerting, target: api }
            exp_annotations: { summary: "gantry alert api-down is firing", runbook_url: "https://runbooks.example/api" }
      - eval_time: 2s
        alertname: web-rolled-back
        exp_alerts:
          - exp_labels: { severity: warn, project: alerting, service: web, phase: rolled_back }
            exp_annotations: { summary: "gantry alert web-rolled-back is firing" }
      - eval_time: 65s
        alertname: web-errors
        exp_alerts:
          - exp_labels: { severity: warn, project: alerting }
            exp_annotations: { summary: "gantry alert web-errors is firing" }
"#,
    )
    .unwrap();
    let test = std::process::Command::new(&promtool)
        .args(["test", "rules"])
        .arg(&tests)
        .current_dir(p.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&test.stdout).to_string() + &String::from_utf8_lossy(&test.stderr);
    assert!(test.status.success(), "{said}");
}
