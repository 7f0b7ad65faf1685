//! The status report from a known ledger, probe results and live view: the status model's
//! rules, and snapshots of both formats (Markdown and JSON).

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use gantry_ledger::{Actor, Entry};
use gantry_monitor::report::{self, Git, Inputs, Live, Sample};
use gantry_monitor::{Level, ProbeResult, render, targets};
use gantry_state::State;
use serde_json::{Value, json};

const CONFIG: &str = "\
project: shop
agents:
  planner: { id: PlanAgent }
  operator: { id: OperationsBoardAgent }
services:
  web:
    listen: 127.0.0.1:18080
    instances: 2
    releases:
      v1:
        run: ./web --port {port}
      v2:
        run: ./web --port {port}
      v3:
        run: ./web --port {port}
    health:
      readiness: { http: /health }
  worker:
    listen: 127.0.0.1:18081
    releases:
      v1:
        run: ./worker --port {port}
pipelines:
  release:
    stages:
      - name: ci
        steps: [ { run: make } ]
        checkpoint: { role: planner }
      - name: deploy
        steps: [ { run: make deploy } ]
monitor:
  interval: 10s
  targets:
    api: { http: \"${API_URL:-http://127.0.0.1:18000}/health\", contains: ok }
    db: { tcp: \"127.0.0.1:15432\" }
";

fn entry(seq: u64, ts: &str, role: &str, kind: &str, body: Value) -> Entry {
    Entry {
        seq,
        ts: ts.into(),
        kind: kind.into(),
        actor: Actor {
            role: role.into(),
            id: format!("{role}-id"),
            key: String::new(),
        },
        body,
        prev: String::new(),
        hash: String::new(),
        sig: String::new(),
    }
}

fn ledger() -> Vec<Entry> {
    let t = |m: u32| format!("2026-12-01T10:{m:02}:00.000000Z");
    let run = "20261201T100000Z-release-1";
    vec![
        entry(
            1,
            &t(0),
            "gantry",
            "deployment.state.started",
            json!({"service": "web", "id": "web-1", "to": "v1", "strategy": "initial"}),
        ),
        entry(
            2,
            &t(1),
            "gantry",
            "traffic.shifted",
            json!({"service": "web", "weights": {"v1": 100}}),
        ),
        entry(
            3,
            &t(1),
            "gantry",
            "deployment.state.succeeded",
            json!({"service": "web", "id": "web-1"}),
        ),
        entry(
            4,
            &t(2),
            "operator",
            "deployment.state.started",
            json!({"service": "web", "id": "web-2", "from": "v1", "to": "v2", "strategy": "canary"}),
        ),
        entry(
            5,
            &t(3),
            "gantry",
            "deployment.state.succeeded",
            json!({"service": "web", "id": "web-2"}),
        ),
        entry(
            6,
            &t(4),
            "operator",
            "pipeline.state.started",
            json!({"run": run, "pipeline": "release", "pid": 1, "host": "h"}),
        ),
        entry(
            7,
            &t(4),
            "operator",
            "stage.state.started",
            json!({"run": run, "stage": "ci"}),
        ),
        entry(
            8,
            &t(5),
            "operator",
            "stage.state.succeeded",
            json!({"run": run, "stage": "ci", "duration_ms": 61000}),
        ),
        entry(
            9,
            &t(5),
            "operator",
            "checkpoint.requested",
            json!({"run": run, "stage": "ci", "role": "planner", "mode": "built_in"}),
        ),
        entry(
            10,
            &t(6),
            "planner",
            "checkpoint.signed",
            json!({"run": run, "stage": "ci", "role": "planner", "signer": "PlanAgent"}),
        ),
        entry(
            11,
            &t(6),
            "operator",
            "stage.state.started",
            json!({"run": run, "stage": "deploy"}),
        ),
        entry(
            12,
            &t(7),
            "operator",
            "stage.state.failed",
            json!({"run": run, "stage": "deploy", "duration_ms": 2500, "reason": "step failed"}),
        ),
        entry(
            13,
            &t(7),
            "operator",
            "pipeline.state.failed",
            json!({"run": run, "duration_ms": 180000, "reason": "stage deploy failed"}),
        ),
    ]
}

fn ok(ms: f64) -> ProbeResult {
    ProbeResult {
        ok: true,
        latency_ms: ms,
        reason: None,
    }
}

fn failing(why: &str) -> ProbeResult {
    ProbeResult {
        ok: false,
        latency_ms: 1.5,
        reason: Some(why.into()),
    }
}

struct World {
    config: gantry_config::Config,
    entries: Vec<Entry>,
    samples: BTreeMap<String, Sample>,
    live: Option<BTreeMap<String, Live>>,
    channel_failures: Vec<String>,
    alerts: Vec<report::AlertState>,
    deliveries: Vec<report::ChannelState>,
}

impl World {
    fn new() -> World {
        World {
            config: gantry_config::parse("gantry.yaml", CONFIG).unwrap(),
            entries: ledger(),
            samples: BTreeMap::new(),
            live: None,
            channel_failures: vec![],
            alerts: vec![],
            deliveries: vec![],
        }
    }

    fn sample(&mut self, key: &str, result: ProbeResult) {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap();
        self.samples.insert(key.into(), Sample { result, at });
    }

    fn report(&self, minutes_after: i64) -> report::Report {
        let state = State::replay(&self.entries);
        let targets = targets::targets(&self.config, &BTreeMap::new()).unwrap();
        let rollbacks = report::rollbacks(&self.entries);
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap()
            + chrono::Duration::minutes(minutes_after);
        let budgets = gantry_access::budgets::report(
            &self.config.access.budget_limits(),
            &gantry_access::budgets::tally(&self.entries),
            time::OffsetDateTime::from_unix_timestamp(now.timestamp()).unwrap(),
        );
        report::build(&Inputs {
            config: &self.config,
            state: &state,
            targets: &targets,
            samples: &self.samples,
            live: self.live.as_ref(),
            rollbacks: &rollbacks,
            ledger_verified: Ok(true),
            ledger_write_error: None,
            channel_failures: self.channel_failures.clone(),
            alerts: vec![],
            alert_rules: self.alerts.clone(),
            deliveries: self.deliveries.clone(),
            now,
            trigger: "gantry status --check".into(),
            git: Some(Git {
                branch: Some("main".into()),
                commit: "0123456789ab".into(),
            }),
            run_url: None,
            schedule: "every 10s".into(),
            channels: vec![],
            labels: vec![],
            budgets: &budgets,
        })
    }
}

fn texts(r: &report::Report) -> Vec<String> {
    r.reasons
        .iter()
        .map(|x| format!("{} {x}", x.level))
        .collect()
}

#[test]
fn never_deployed_is_not_operational_and_a_dead_router_is_critical() {
    let mut w = World::new();
    w.sample("api", ok(2.0));
    w.sample("db", ok(0.4));
    w.sample("service:web", failing("connection refused"));
    let r = w.report(0);
    assert_eq!(r.status, Level::Critical);
    assert_eq!(
        texts(&r),
        [
            "CRITICAL service web: no ready instance answers on 127.0.0.1:18080: connection refused",
            "DEGRADED service worker: never deployed (`gantry deploy worker --version VERSION`)",
        ]
    );
    w.sample("service:web", ok(1.0));
    let r = w.report(0);
    assert_eq!(r.status, Level::Degraded, "{:?}", texts(&r));
}

#[test]
fn live_instances_below_desired_and_recent_rollbacks_degrade() {
    let mut w = World::new();
    w.entries.push(entry(
        14,
        "2026-12-01T10:20:00.000000Z",
        "gantry",
        "deployment.state.started",
        json!({"service": "worker", "id": "worker-1", "to": "v1"}),
    ));
    w.entries.push(entry(
        15,
        "2026-12-01T10:21:00.000000Z",
        "gantry",
        "deployment.state.succeeded",
        json!({"service": "worker", "id": "worker-1"}),
    ));
    w.sample("api", ok(2.0));
    w.sample("db", ok(0.4));
    w.sample("service:web", ok(1.0));
    w.sample("service:worker", ok(1.0));
    let mut live = BTreeMap::new();
    live.insert(
        "web".to_string(),
        Live {
            ready: 2,
            traffic: [("v2".to_string(), 100)].into(),
            latency_p99_ms: Some(12.5),
            error_rate: Some(0.001),
            emergency_stop: false,
        },
    );
    live.insert(
        "worker".to_string(),
        Live {
            ready: 1,
            ..Live::default()
        },
    );
    w.live = Some(live.clone());
    assert_eq!(
        w.report(0).status,
        Level::Operational,
        "{:?}",
        texts(&w.report(0))
    );

    live.get_mut("web").unwrap().ready = 1;
    w.live = Some(live.clone());
    assert_eq!(
        texts(&w.report(0)),
        ["DEGRADED service web: 1 of 2 desired instances ready"]
    );
    live.get_mut("web").unwrap().ready = 0;
    w.live = Some(live.clone());
    assert_eq!(
        texts(&w.report(0)),
        ["CRITICAL service web: no ready instance"]
    );

    live.get_mut("web").unwrap().ready = 2;
    w.live = Some(live);
    w.entries.push(entry(
        16,
        "2026-12-01T10:25:00.000000Z",
        "gantry",
        "deployment.state.rolled_back",
        json!({"service": "web", "id": "web-3", "to": "v2", "reason": "error rate 50.0% > 1%"}),
    ));
    assert_eq!(
        texts(&w.report(0)),
        ["DEGRADED service web: rolled back to v2 at 2026-12-01T10:25:00Z: error rate 50.0% > 1%"]
    );
    // An hour later the rollback no longer counts.
    assert_eq!(w.report(60).status, Level::Operational);

    // A channel that fails to deliver is enough to degrade an otherwise healthy system.
    w.channel_failures = vec!["channel oncall failing: the receiver answered 500".into()];
    assert_eq!(
        texts(&w.report(60)),
        ["DEGRADED notifications: channel oncall failing: the receiver answered 500"]
    );
}

#[test]
fn emergency_stop_and_a_bad_ledger_are_critical_and_failing_targets_degrade() {
    let mut w = World::new();
    w.sample("api", failing("status 500, expected 200..399"));
    let r = w.report(0);
    assert!(texts(&r).contains(&"DEGRADED target api: status 500, expected 200..399".to_string()));
    assert!(texts(&r).contains(&"DEGRADED target db: not checked yet".to_string()));
    w.entries.push(entry(
        14,
        "2026-12-01T10:29:00.000000Z",
        "operator",
        "control.emergency_stop",
        json!({}),
    ));
    let r = w.report(0);
    assert_eq!(r.status, Level::Critical);
    assert!(texts(&r)[0].starts_with("CRITICAL control plane: emergency stop in force"));
}

fn full_world() -> World {
    let mut w = World::new();
    w.sample("api", ok(2.25));
    w.sample("db", failing("connection refused"));
    w.sample("service:web", ok(1.0));
    w.sample("service:worker", failing("connection refused"));
    let mut live = BTreeMap::new();
    live.insert(
        "web".to_string(),
        Live {
            ready: 2,
            traffic: [("v1".to_string(), 90), ("v2".to_string(), 10)].into(),
            latency_p99_ms: Some(12.5),
            error_rate: Some(0.0012),
            emergency_stop: false,
        },
    );
    w.live = Some(live);
    w.channel_failures = vec!["channel oncall failing: the receiver answered 500".into()];
    w.alerts = vec![
        report::AlertState {
            name: "api-down".into(),
            severity: "error".into(),
            state: "ok".into(),
            since: None,
            condition: "gantry_probe_success{target=\"api\"} == 0".into(),
            detail: Some("target api is up".into()),
            runbook: Some("https://wiki.example/api".into()),
        },
        report::AlertState {
            name: "db-down".into(),
            severity: "warn".into(),
            state: "firing".into(),
            since: Some("2026-12-01T10:29:30Z".into()),
            condition: "gantry_probe_success{target=\"db\"} == 0".into(),
            detail: Some("target db is down: connection refused".into()),
            runbook: None,
        },
    ];
    w.deliveries = vec![
        report::ChannelState {
            name: "slack".into(),
            kind: "slack".into(),
            min_severity: "warn".into(),
            last: "sent".into(),
            last_at: Some("2026-12-01T10:29:40Z".into()),
            failing: None,
            sent: 3,
            failed: 0,
            dropped: 0,
        },
        report::ChannelState {
            name: "oncall".into(),
            kind: "webhook".into(),
            min_severity: "info".into(),
            last: "failed".into(),
            last_at: Some("2026-12-01T10:29:45Z".into()),
            failing: Some("the receiver answered 500".into()),
            sent: 1,
            failed: 2,
            dropped: 0,
        },
    ];
    w
}

#[test]
fn markdown_snapshot() {
    insta::assert_snapshot!(render::markdown(&full_world().report(0)));
}

#[test]
fn json_snapshot() {
    insta::assert_snapshot!(serde_json::to_string_pretty(&full_world().report(0)).unwrap());
}

/// Under `environments:` each environment's target is a service of the report.
fn env_world() -> World {
    let config = CONFIG.replace(
        "pipelines:",
        "environments:\n  staging:\n    local: { listen: { web: 127.0.0.1:18090, worker: 127.0.0.1:18091 } }\n  production: {}\npromotion: [staging, production]\npipelines:",
    );
    let t = |m: u32| format!("2026-12-01T10:{m:02}:00.000000Z");
    let sys = "gantry";
    let entries = vec![
        entry(1, &t(0), sys, "ledger.genesis", json!({"origin": "shop"})),
        entry(
            2,
            &t(1),
            "operator",
            "deployment.state.started",
            json!({"service": "web@staging", "id": "web@staging-1", "to": "v2", "strategy": "initial"}),
        ),
        entry(
            3,
            &t(2),
            sys,
            "traffic.shifted",
            json!({"service": "web@staging", "weights": {"v2": 100}}),
        ),
        entry(
            4,
            &t(3),
            sys,
            "deployment.state.succeeded",
            json!({"service": "web@staging", "id": "web@staging-1"}),
        ),
        entry(
            5,
            &t(4),
            "operator",
            "approval.requested",
            json!({"service": "web@production", "id": "web@production-1", "from": null, "to": "v2", "version": "v2",
                "strategy": "initial", "env": "production", "role": "verifier", "deadline": "2026-12-01T11:04:00Z", "timeout_ms": 3600000}),
        ),
    ];
    let mut w = World {
        config: gantry_config::parse("gantry.yaml", &config).unwrap(),
        entries,
        samples: BTreeMap::new(),
        live: None,
        channel_failures: vec![],
        alerts: vec![],
        deliveries: vec![],
    };
    w.sample("service:web@staging", ok(1.0));
    w
}

/// The world with `access.budgets` and a day of use: actions recorded by the API, deploys
/// started for callers, tokens reported (through the API and by a checkpoint's agent).
fn budget_world() -> World {
    let mut w = full_world();
    let yaml = CONFIG.replace(
        "monitor:\n",
        "access:\n  budgets:\n    operator: { actions_per_hour: 60, deploys_per_day: 10 }\n    planner: { tokens_per_day: 5000 }\nmonitor:\n",
    );
    w.config = gantry_config::parse("gantry.yaml", &yaml).unwrap();
    let caller = json!({"role": "operator", "token": "ops"});
    let mut seq = 100;
    let mut push = |ts: &str, role: &str, kind: &str, body: Value| {
        seq += 1;
        w.entries.push(entry(seq, ts, role, kind, body));
    };
    for m in 0..7 {
        let ts = format!("2026-12-01T10:1{m}:00Z");
        push(
            &ts,
            "gantry",
            "access.allowed",
            json!({"role": "operator", "token": "ops"}),
        );
        push(
            &ts,
            "operator",
            "deployment.state.started",
            json!({"service": "worker", "id": format!("worker-{m}"), "to": "v1", "strategy": "rolling", "caller": caller}),
        );
    }
    // Last hour's action and yesterday's deploy are outside their windows.
    push(
        "2026-12-01T09:59:59Z",
        "gantry",
        "access.allowed",
        json!({"role": "operator", "token": "ops"}),
    );
    push(
        "2026-11-30T23:00:00Z",
        "operator",
        "deployment.state.started",
        json!({"service": "worker", "id": "worker-0", "strategy": "rolling", "caller": caller}),
    );
    push(
        "2026-12-01T10:20:00Z",
        "gantry",
        "access.usage.reported",
        json!({"role": "planner", "token": "p", "tokens": 1200}),
    );
    push(
        "2026-12-01T10:21:00Z",
        "planner",
        "checkpoint.signed",
        json!({"run": "r", "stage": "ci", "role": "planner", "tokens_used": 34}),
    );
    w
}

#[test]
fn every_environment_is_in_the_report() {
    let r = env_world().report(0);
    let names: Vec<(&str, Option<&str>)> = r
        .services
        .iter()
        .map(|s| (s.name.as_str(), s.env.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("web@production", Some("production")),
            ("web@staging", Some("staging")),
            ("worker@production", Some("production")),
            ("worker@staging", Some("staging")),
        ]
    );
    assert_eq!(r.services[1].stable.as_deref(), Some("v2"));
    assert_eq!(r.services[1].address, "127.0.0.1:18090");
    assert_eq!(r.services[0].address, "127.0.0.1:18080");
    insta::assert_snapshot!("environments_markdown", render::markdown(&r));
    insta::assert_snapshot!(
        "environments_json",
        serde_json::to_string_pretty(&r.services).unwrap()
    );
}

#[test]
fn budget_use_is_in_both_formats() {
    let r = budget_world().report(0);
    let lines: Vec<&str> = r.budgets.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(
        lines,
        [
            "operator: 7 of 60 actions this hour, resets 11:00 UTC",
            "operator: 7 of 10 deploys today, resets 00:00 UTC",
            "planner: 1234 of 5000 agent tokens today, resets 00:00 UTC",
        ]
    );
    let md = render::markdown(&r);
    let section = md
        .split("## Agent budgets\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap();
    insta::assert_snapshot!("budgets_markdown", section);
    insta::assert_snapshot!(
        "budgets_json",
        serde_json::to_string_pretty(&r.budgets).unwrap()
    );
    // Without budgets the report has neither.
    let plain = full_world().report(0);
    assert!(plain.budgets.is_empty());
    assert!(!render::markdown(&plain).contains("Agent budgets"));
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("budgets")
            .is_none()
    );
}
