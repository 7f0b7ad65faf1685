//! Notifications from `gantry serve` to local receivers that check the payload shapes
//! Slack and Discord document: a rollback with its figures, a flapping target grouped into
//! one message and one "resolved", a hanging receiver that delays nothing else, and a
//! failing channel that degrades the status and counts in `/metrics`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::load::Load;
use gantry_test_support::serve::Serve;
use serde_json::Value;

use super::BIN;
use super::receiver::{Receiver, Shape};

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

/// A project with service `web` (v1 good, v2 good, v3 answering half its requests 500),
/// a canary strategy, the probe target `api` and `notify` as given.
fn project(notify: &str, target: &str) -> (TestProject, u16) {
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    let port = free_port();
    let p = TestProject::init(BIN);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            r#"project: shop
# A test fixture, not a production service: the policy gate is tested in tests/policy.
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
      readiness: {{ http: /health, period: 100ms, timeout: 500ms, failure_threshold: 2 }}
    strategy: {{ canary: {{ steps: [ {{weight: 20, pause: 1500ms}}, {{weight: 50, pause: 1500ms}} ] }} }}
    analysis: {{ error_rate: "< 5%", latency_p99: "< 450ms", min_requests: 10, window: 1s }}
monitor:
  interval: 300ms
  targets:
    api: {{ http: "{target}" }}
notify:
{notify}"#
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    (p, port)
}

fn metrics(serve: &Serve, p: &TestProject) -> String {
    let token = std::fs::read_to_string(p.path().join(".gantry/admin.token")).unwrap();
    let out = std::process::Command::new("curl")
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

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until `load` sent `n` more requests.
fn more_requests(load: &Load, n: u64) {
    let want = load.snapshot().requests + n;
    wait_for(20, "load", || {
        (load.snapshot().requests >= want).then_some(())
    });
}

fn text_of(slack: &Value) -> String {
    slack["blocks"].to_string() + slack["text"].as_str().unwrap_or("")
}

#[test]
fn a_bad_canary_rolled_back_sends_one_slack_message_with_the_figures() {
    let slack = Receiver::start(Shape::Slack);
    let discord = Receiver::start(Shape::Discord);
    let target = super::HttpTarget::start();
    let (p, port) = project(
        "  - slack: { webhook_env: SLACK_URL, min_severity: error, group_wait: 500ms, group_interval: 2s }\n  - discord: { webhook_env: DISCORD_URL, group_wait: 500ms, group_interval: 2s }\n",
        &target.url("/health"),
    );
    let serve = Serve::start_with_env(
        &p,
        &[("SLACK_URL", &slack.url()), ("DISCORD_URL", &discord.url())],
    );
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let load = Load::start(addr(port), 150, 4);
    more_requests(&load, 30);
    p.gantry(&["deploy", "web", "--version", "v3", "--wait"])
        .fails_with(3)
        .says("rolled back");
    load.stop();

    let got = slack.wait_for(1, 30, "the rollback on Slack");
    let text = text_of(&got[0]);
    assert!(
        text.contains("web: automatic rollback from v3 to v1"),
        "{text}"
    );
    assert!(text.contains("rule: analysis failed"), "{text}");
    assert!(text.contains("error rate"), "{text}");
    assert!(text.contains("*requests*"), "{text}");
    // The figures are the measured ones, as the ledger has them.
    let entries: Vec<Value> = p
        .ledger_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let trigger = entries
        .iter()
        .find(|e| e["kind"] == "rollback.triggered")
        .unwrap();
    let rate = trigger["body"]["error_rate"].as_f64().unwrap() * 100.0;
    assert!(
        text.contains(&format!("{rate:.1}%")),
        "{rate} not in {text}"
    );

    // Discord (every severity) has the rollback too, as an embed.
    // The failure and the rollback may arrive as separate messages: wait for the rollback.
    let rolled_back = |d: &[Value]| {
        d.iter().any(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.contains("automatic rollback from v3 to v2"))
        })
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    let mut d = discord.wait_for(1, 30, "the rollback on Discord");
    while !rolled_back(&d) && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        d = discord.messages();
    }
    assert!(
        d.iter().any(|m| m["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.contains("automatic rollback from v3 to v1"))),
        "{d:#?}"
    );
    // One message: the failure and its rollback were grouped; the DEGRADED status it
    // caused is a warning, below Slack's minimum. Wait until Discord, which gets every
    // severity, has had that status message, then count Slack's again.
    discord.wait_for(2, 30, "the status change on Discord");
    let later = slack.messages();
    assert_eq!(later.len(), 1, "{later:#?}");
    drop(serve);
}

/// An HTTP target that fails every other request for its first `flaps` requests, then
/// answers 200.
struct Flapping {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
}

impl Flapping {
    fn start(flaps: u64) -> Flapping {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let n = h.fetch_add(1, Ordering::AcqRel) + 1;
                let status = if n <= flaps && n % 2 == 1 { 500 } else { 200 };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Flapping { addr, hits }
    }
}

#[test]
fn a_flapping_target_sends_one_message_per_quiet_period_and_one_resolved() {
    let hook = Receiver::start(Shape::Webhook);
    let target = Flapping::start(30);
    let p = TestProject::init(BIN);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            "project: flap\npolicy: {{ default: warning }}\nagents:\n  operator: {{ id: Ops }}\nmonitor:\n  interval: 150ms\n  targets:\n    api: {{ http: \"http://{}/health\" }}\nnotify:\n  - webhook: {{ url: \"{}\", group_wait: 300ms, group_interval: 3s }}\n",
            target.addr,
            hook.url()
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    let serve = Serve::start(&p);
    // Down and up on every probe for 30 probes, then up for good.
    wait_for(60, "30 probes", || {
        (target.hits.load(Ordering::Acquire) >= 30).then_some(())
    });
    let flips = p
        .ledger_lines()
        .iter()
        .filter(|l| l.contains("\"status.changed\""))
        .count();
    assert!(flips >= 10, "the status flapped only {flips} times");
    let got = hook.wait_for(2, 30, "firing and resolved");
    // Then quiet: another quiet period and more (20 probes) brings nothing new.
    let seen = target.hits.load(Ordering::Acquire);
    wait_for(60, "20 more probes", || {
        (target.hits.load(Ordering::Acquire) >= seen + 20).then_some(())
    });
    let got_later = hook.messages();
    assert_eq!(got_later.len(), 2, "{got_later:#?}");
    let states: Vec<(&str, &str)> = got
        .iter()
        .map(|m| (m["status"].as_str().unwrap(), m["group"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("firing", "status"), ("resolved", "status")]);
    assert!(
        got[0]["text"].as_str().unwrap().contains("target api"),
        "{:#}",
        got[0]
    );
    drop(serve);
}

/// Durations of: a canary deploy that is promoted, one that is rolled back, and a check
/// round on demand (`status --refresh`), with `hook` hanging or not.
fn timed_run(hang: bool) -> (Duration, Duration, Duration, Receiver) {
    let hook = Receiver::start(Shape::Webhook);
    let discord = Receiver::start(Shape::Discord);
    let target = super::HttpTarget::start();
    let (p, port) = project(
        "  - webhook: { url_env: HOOK_URL, group_wait: 0s, group_interval: 1s }\n  - discord: { webhook_env: DISCORD_URL, min_severity: error, group_wait: 0s, group_interval: 1s }\n",
        &target.url("/health"),
    );
    let serve = Serve::start_with_env(
        &p,
        &[("HOOK_URL", &hook.url()), ("DISCORD_URL", &discord.url())],
    );
    if hang {
        hook.hang();
    }
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let load = Load::start(addr(port), 150, 4);
    more_requests(&load, 30);
    let t = Instant::now();
    p.gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    let promote = t.elapsed();
    more_requests(&load, 30);
    let t = Instant::now();
    p.gantry(&["deploy", "web", "--version", "v3", "--wait"])
        .fails_with(3);
    let rollback = t.elapsed();
    load.stop();
    let t = Instant::now();
    for _ in 0..5 {
        p.gantry(&["status", "--refresh", "--json"]);
    }
    let rounds = t.elapsed();
    // The other channel got the rollback while the hook hung.
    // The failure and the rollback may arrive as separate messages: wait for the rollback.
    let rolled_back = |d: &[Value]| {
        d.iter().any(|m| {
            m["content"]
                .as_str()
                .is_some_and(|c| c.contains("automatic rollback from v3 to v2"))
        })
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    let mut d = discord.wait_for(1, 30, "the rollback on Discord");
    while !rolled_back(&d) && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        d = discord.messages();
    }
    assert!(
        d.iter().any(|m| m["content"]
            .as_str()
            .is_some_and(|c| c.contains("automatic rollback from v3 to v2"))),
        "{d:#?}"
    );
    drop(serve);
    (promote, rollback, rounds, hook)
}

#[test]
fn a_receiver_hanging_60s_delays_no_deploy_no_rollback_no_probe_round_and_no_other_channel() {
    let (p0, r0, c0, normal) = timed_run(false);
    assert!(
        !normal.messages().is_empty(),
        "the hook got nothing when answering"
    );
    let (p1, r1, c1, hung) = timed_run(true);
    assert!(hung.messages().is_empty());
    eprintln!(
        "without a hanging receiver: promote {p0:?}, rollback {r0:?}, 5 rounds {c0:?}; with: {p1:?}, {r1:?}, {c1:?}"
    );
    // Generous: the machine is loaded, and a hang would add tens of seconds.
    let slack = |base: Duration| base * 2 + Duration::from_secs(5);
    assert!(p1 < slack(p0), "promote {p1:?} vs {p0:?}");
    assert!(r1 < slack(r0), "rollback {r1:?} vs {r0:?}");
    assert!(c1 < slack(c0), "rounds {c1:?} vs {c0:?}");
}

#[test]
fn a_failing_channel_degrades_the_status_names_it_and_counts_in_metrics() {
    let hook = Receiver::start(Shape::Webhook);
    hook.fail();
    let target = super::HttpTarget::start();
    let (p, _port) = project(
        "  - webhook: { url_env: HOOK_URL, name: oncall, group_wait: 0s, group_interval: 1s }\n",
        &target.url("/health"),
    );
    // Without its URL, serve refuses to start and says which variable.
    let refused = p.gantry(&["serve", "--listen", "127.0.0.1:0"]);
    assert_ne!(refused.code(), 0);
    refused.says("notification channel 'oncall': environment variable HOOK_URL is not set");
    let serve = Serve::start_with_env(&p, &[("HOOK_URL", &hook.url())]);
    // The never-deployed service's DEGRADED is a message; every attempt gets 500.
    let v = wait_for(60, "the channel reported failing", || {
        let v = p.gantry(&["status", "--json"]).json();
        v["reasons"]
            .to_string()
            .contains("channel oncall failing: the receiver answered 500")
            .then_some(v)
    });
    assert_eq!(v["status"], "DEGRADED");
    // The channel's section says how its last delivery went.
    let ch = &v["notifications"][0];
    assert_eq!(ch["name"], "oncall");
    assert_eq!(ch["last"], "failed", "{ch:#}");
    assert_eq!(
        ch["failing"], "the receiver answered 500 Internal Server Error",
        "{ch:#}"
    );
    assert!(ch["last_at"].is_string(), "{ch:#}");
    let m = metrics(&serve, &p);
    assert!(
        m.contains("gantry_notifications_total{channel=\"oncall\",outcome=\"failed\"} 1"),
        "{m}"
    );
    let md = std::fs::read_to_string(p.path().join(".gantry/status.md")).unwrap();
    assert!(md.contains("channel oncall failing"), "{md}");
    assert!(md.contains("| oncall | webhook | info | failed | "), "{md}");
    drop(serve);
}
