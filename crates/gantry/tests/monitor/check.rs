//! `gantry status --check`: probes now, without a control plane; its exit code is the status.

use std::net::TcpListener;

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;

use super::{BIN, HttpTarget};

fn project(yaml: &str) -> TestProject {
    let p = TestProject::init(BIN);
    std::fs::write(p.path().join("gantry.yaml"), yaml).unwrap();
    p
}

fn status_check(p: &TestProject, env: &[(&str, &str)]) -> (i32, Value) {
    let out = p
        .command(&["status", "--check", "--json"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {text}\nstderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}: {}",
                r["level"].as_str().unwrap(),
                r["subject"].as_str().unwrap(),
                r["text"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn check_probes_http_tcp_and_exec_targets_and_exits_by_status() {
    let http = HttpTarget::start();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap();
    let p = project(&format!(
        "project: mon\nmonitor:\n  interval: 5s\n  targets:\n    api: {{ http: \"${{API_URL:-http://127.0.0.1:1}}/health\", contains: ok, timeout: \"${{HEALTH_CHECK_TIMEOUT:-2s}}\" }}\n    db: {{ tcp: \"{tcp_addr}\" }}\n    flag: {{ exec: \"test -f flag\" }}\n"
    ));
    std::fs::write(p.path().join("flag"), "").unwrap();
    let env = [
        ("API_URL", http.url("").leak() as &str),
        ("HEALTH_CHECK_TIMEOUT", "3"),
    ];
    let env: Vec<(&str, &str)> = env.to_vec();

    let (code, v) = status_check(&p, &env);
    assert_eq!(
        (code, v["status"].as_str()),
        (0, Some("OPERATIONAL")),
        "{v:#}"
    );
    assert_eq!(v["targets"][0]["address"], http.url("/health"));
    assert_eq!(v["targets"][0]["state"], "ok");
    assert!(http.hits.load(std::sync::atomic::Ordering::Acquire) >= 1);

    // Wrong status, then the right status with the wrong body: DEGRADED (8), named.
    http.answer(500, "ok");
    let (code, v) = status_check(&p, &env);
    assert_eq!(code, 8, "{v:#}");
    assert_eq!(
        reasons(&v),
        ["DEGRADED target api: status 500, expected 200..399"]
    );
    http.answer(200, "starting");
    let (code, v) = status_check(&p, &env);
    assert_eq!(
        (code, reasons(&v)),
        (
            8,
            vec!["DEGRADED target api: body does not contain 'ok'".to_string()]
        )
    );
    http.answer(200, "all ok");

    // The TCP target goes away, and the exec check fails.
    drop(tcp);
    std::fs::remove_file(p.path().join("flag")).unwrap();
    let (code, v) = status_check(&p, &env);
    assert_eq!(code, 8);
    assert_eq!(
        reasons(&v),
        [
            "DEGRADED target db: connection refused",
            "DEGRADED target flag: exit code 1, expected 0",
        ]
    );

    // Without API_URL the default applies (nothing listens on port 1).
    let (code, v) = status_check(&p, &[]);
    assert_eq!(code, 8);
    assert_eq!(v["targets"][0]["address"], "http://127.0.0.1:1/health");
}

#[test]
fn a_probe_that_hangs_fails_at_its_timeout() {
    // Accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let p = project(&format!(
        "project: mon\nmonitor:\n  targets:\n    slow: {{ http: \"http://{addr}/\", timeout: 300ms }}\n"
    ));
    let started = std::time::Instant::now();
    let (code, v) = status_check(&p, &[]);
    assert_eq!(code, 8);
    assert_eq!(reasons(&v), ["DEGRADED target slow: timed out after 300ms"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    drop(silent);
}

#[test]
fn a_deployed_service_is_checked_through_its_router_and_critical_without_one() {
    let demo = demo_app(std::path::Path::new(BIN));
    let port = free_port();
    let p = project(&format!(
        "project: mon\nagents:\n  operator: {{ id: Ops }}\nservices:\n  web:\n    listen: 127.0.0.1:{port}\n    releases:\n      v1: {{ run: \"{} --port {{port}} --version v1\" }}\n    health:\n      readiness: {{ http: /health, period: 100ms }}\n",
        demo.display()
    ));

    // Never deployed: not OPERATIONAL.
    let (code, v) = status_check(&p, &[]);
    assert_eq!(code, 8, "{v:#}");
    assert_eq!(
        reasons(&v),
        ["DEGRADED service web: never deployed (`gantry deploy web --version VERSION`)"]
    );

    let mut serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let (code, v) = status_check(&p, &[]);
    assert_eq!(
        (code, v["status"].as_str()),
        (0, Some("OPERATIONAL")),
        "{v:#}"
    );
    assert_eq!(v["services"][0]["stable"], "v1");
    assert!(!v["commands"].to_string().contains("--version v1"), "{v:#}");

    // The control plane goes away: nothing answers on web's address: CRITICAL (9).
    serve.stop();
    let (code, v) = status_check(&p, &[]);
    assert_eq!(code, 9, "{v:#}");
    assert!(
        reasons(&v)[0].starts_with(&format!(
            "CRITICAL service web: no ready instance answers on 127.0.0.1:{port}"
        )),
        "{v:#}"
    );

    // Markdown to a file; stdout says where.
    let out = p.gantry(&["status", "--check", "--format", "md", "--out", "STATUS.md"]);
    assert_eq!(out.code(), 9);
    let md = std::fs::read_to_string(p.path().join("STATUS.md")).unwrap();
    assert!(md.starts_with("# mon status: 🔴 CRITICAL"), "{md}");
    assert!(
        out.stdout()
            .contains("status: CRITICAL (report in STATUS.md)"),
        "{}",
        out.stdout()
    );
}

#[test]
fn a_tampered_ledger_is_critical() {
    let p = project("project: mon\n");
    let (code, _) = status_check(&p, &[]);
    assert_eq!(code, 0);
    let mut lines = p.ledger_lines();
    lines[0] = lines[0].replace("\"origin\":\"gantry/", "\"origin\":\"gantrX/");
    p.write_ledger_lines(&lines);
    let (code, v) = status_check(&p, &[]);
    assert_eq!(code, 9, "{v:#}");
    assert!(
        reasons(&v)[0].starts_with("CRITICAL ledger: does not verify"),
        "{v:#}"
    );
    // Plain `status` (no control plane) shows the same without probing, and exits 0.
    let out = p.gantry(&["status"]);
    assert_eq!(out.code(), 0);
    assert!(out.stdout().contains("does not verify"), "{}", out.stdout());
}

#[test]
fn a_bad_target_is_a_located_usage_error() {
    let p =
        project("project: mon\nmonitor:\n  targets:\n    api: { http: \"${API_URL}/health\" }\n");
    let out = p.gantry(&["status", "--check"]);
    assert_eq!(out.code(), 2, "{}", out.stderr());
    assert!(
        out.stderr().contains("gantry.yaml:4:18"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr()
            .contains("API_URL is not set and has no default"),
        "{}",
        out.stderr()
    );
}

#[test]
fn without_serve_the_report_lists_alert_rules_and_channels_as_not_evaluated() {
    let target = HttpTarget::start();
    let p = project(&format!(
        "project: shop\npolicy: {{ default: warning }}\nagents:\n  operator: {{ id: Ops }}\nmonitor:\n  targets:\n    api: {{ http: \"{}\" }}\nnotify:\n  - slack: {{ webhook_env: SLACK_URL, min_severity: warn }}\nalerts:\n  - {{ name: api-down, when: {{ target: api, down_for: 30s }}, severity: error, runbook: \"https://runbooks.example/api\" }}\nstatus:\n  github: {{ repo: acme/shop, label: shop-status }}\n",
        target.url("/health")
    ));
    let (code, v) = status_check(&p, &[]);
    assert_eq!(code, 0, "{v:#}");
    let a = &v["alerts"][0];
    assert_eq!(a["name"], "api-down");
    assert_eq!(a["state"], "not evaluated");
    assert_eq!(a["severity"], "error");
    assert_eq!(a["runbook"], "https://runbooks.example/api");
    let c = &v["notifications"][0];
    assert_eq!(
        (c["name"].as_str(), c["kind"].as_str()),
        (Some("slack"), Some("slack"))
    );
    assert_eq!(c["min_severity"], "warn");
    assert!(
        c["last"].as_str().unwrap().starts_with("not known"),
        "{c:#}"
    );
    assert_eq!(v["configuration"]["labels"][0], "shop-status");
    let md = p.gantry(&["status", "--check"]).ok().stdout();
    assert!(
        md.contains("| api-down | error | not evaluated | - | "),
        "{md}"
    );
    assert!(md.contains("| slack | slack | warn | not known"), "{md}");
}

/// An https server on loopback answering every GET `200 ok`, with `tls`.
fn https_target(tls: std::sync::Arc<rustls::ServerConfig>) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let tls = tls.clone();
            std::thread::spawn(move || {
                let Ok(server) = rustls::ServerConnection::new(tls) else {
                    return;
                };
                let mut stream = rustls::StreamOwned::new(server, conn);
                let mut reader = BufReader::new(&mut stream);
                let mut line = String::new();
                loop {
                    line.clear();
                    // A refused handshake (an untrusted certificate) ends here.
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                drop(reader);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                let _ = stream.flush();
                stream.conn.send_close_notify();
                let _ = stream.flush();
            });
        }
    });
    addr
}

#[test]
fn an_https_target_is_verified_against_the_system_roots_or_ssl_cert_file() {
    let p = TestProject::init(BIN);
    let (ca, tls) = super::run_notify::tls(p.path());
    let addr = https_target(tls);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            "project: shop\npolicy: {{ default: warning }}\nagents:\n  operator: {{ id: Ops }}\nmonitor:\n  targets:\n    api: {{ http: \"https://{addr}/health\", contains: ok }}\n"
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    // A self-signed certificate nobody vouched for: the probe fails, and says why.
    let (code, v) = status_check(&p, &[]);
    assert_eq!(code, 8, "{v:#}");
    let why = v["targets"][0]["reason"].as_str().unwrap().to_lowercase();
    assert!(why.contains("certificate"), "{why}");
    // Its CA given the OpenSSL way: the same target is up.
    let (code, v) = status_check(&p, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["targets"][0]["state"], "ok");
}
