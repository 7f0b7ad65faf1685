//! Monitoring under `gantry serve`: scheduled and event rounds, `GET /v1/status`, the
//! report files, `status.changed` entries, `GET /metrics`, and a real Prometheus scraping it.

use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;

use super::{BIN, HttpTarget};

fn project(target: &HttpTarget) -> (TestProject, u16) {
    let demo = demo_app(std::path::Path::new(BIN));
    let port = free_port();
    let p = TestProject::init(BIN);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            "project: mon\npolicy: {{ default: warning }}\nagents:\n  operator: {{ id: Ops }}\nservices:\n  web:\n    listen: 127.0.0.1:{port}\n    releases:\n      v1: {{ run: \"{} --port {{port}} --version v1\" }}\n    health:\n      readiness: {{ http: /health, period: 100ms }}\nmonitor:\n  interval: 300ms\n  targets:\n    api: {{ http: \"{}\" }}\n",
            demo.display(),
            target.url("/health")
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    (p, port)
}

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

fn status(p: &TestProject) -> Value {
    p.gantry(&["status", "--json"]).ok().json()
}

fn changes(p: &TestProject) -> Vec<Value> {
    p.ledger_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "status.changed")
        .collect()
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

#[test]
fn serve_keeps_the_report_current_records_transitions_and_exports_metrics() {
    let target = HttpTarget::start();
    let (p, _port) = project(&target);
    let serve = Serve::start(&p);

    // Never deployed: DEGRADED from the first round, recorded once.
    let v = wait_for(10, "a first report", || {
        let v = status(&p);
        (v["status"] == "DEGRADED").then_some(v)
    });
    assert!(v["reasons"].to_string().contains("never deployed"), "{v:#}");

    // The deploy's end is an event: a round runs and the report says OPERATIONAL.
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let v = wait_for(10, "OPERATIONAL after the deploy", || {
        let v = status(&p);
        (v["status"] == "OPERATIONAL").then_some(v)
    });
    assert_eq!(v["services"][0]["ready"], 1);
    assert_eq!(v["services"][0]["traffic"]["v1"], 100);
    let md = std::fs::read_to_string(p.path().join(".gantry/status.md")).unwrap();
    assert!(md.contains("OPERATIONAL"), "{md}");

    // The target fails: a scheduled round notices; `--refresh` exits 8.
    target.answer(503, "down");
    wait_for(10, "DEGRADED from a scheduled round", || {
        (status(&p)["status"] == "DEGRADED").then_some(())
    });
    let out = p.gantry(&["status", "--refresh", "--json"]);
    assert_eq!(out.code(), 8, "{}", out.stderr());
    assert!(
        out.stdout().contains("status 503, expected 200..399"),
        "{}",
        out.stdout()
    );

    let c = changes(&p);
    let pairs: Vec<(String, String)> = c
        .iter()
        .map(|e| {
            (
                e["body"]["from"].as_str().unwrap().into(),
                e["body"]["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("UNKNOWN".to_string(), "DEGRADED".to_string()),
            ("DEGRADED".into(), "OPERATIONAL".into()),
            ("OPERATIONAL".into(), "DEGRADED".into()),
        ],
        "transitions only, never one per round"
    );
    assert_eq!(c[2]["actor"]["role"], "gantry");
    assert!(c[2]["body"]["reasons"].to_string().contains("target api"));
    // The ledger still verifies, status.changed included.
    p.gantry(&["ledger", "verify"]).ok();

    let text = metrics(&serve, &p);
    for needle in [
        "gantry_status 1",
        "gantry_probe_success{target=\"api\"} 0",
        "gantry_traffic_weight_percent{service=\"web\",version=\"v1\"} 100",
        "gantry_instances_ready{service=\"web\"} 1",
        "gantry_deployment_phase{service=\"web\",phase=\"succeeded\"} 1",
        "# TYPE gantry_probe_duration_seconds histogram",
        "gantry_check_rounds_total{trigger=\"schedule\"}",
        "gantry_check_rounds_total{trigger=\"event\"}",
        "# EOF",
    ] {
        assert!(text.contains(needle), "metrics lack {needle:?}:\n{text}");
    }
}

/// A real Prometheus (Debian `prometheus`) scrapes gantry's `/metrics` every second with
/// the admin token and answers queries over gantry's own names.
#[test]
fn a_real_prometheus_scrapes_gantry() {
    let Some(prometheus) = which("prometheus") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "prometheus is not installed (apt-get install -y prometheus; scripts/test.sh does)"
        );
        eprintln!("skipped: prometheus is not installed (apt-get install -y prometheus)");
        return;
    };
    let target = HttpTarget::start();
    let (p, _) = project(&target);
    let serve = Serve::start(&p);
    let api = serve.url.trim_start_matches("http://").to_string();
    let prom_port = free_port();
    let dir = p.path().join("prom");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\nscrape_configs:\n  - job_name: gantry\n    authorization: {{ credentials_file: {} }}\n    static_configs: [ {{ targets: [\"{api}\"] }} ]\n",
            p.path().join(".gantry/admin.token").display()
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("log")).unwrap())
        .spawn()
        .unwrap();
    let query = |q: &str| -> Option<Value> {
        let out = std::process::Command::new("curl")
            .args(["-sf", "--get", "--data-urlencode", &format!("query={q}")])
            .arg(format!("http://127.0.0.1:{prom_port}/api/v1/query"))
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v["data"]["result"]
            .as_array()
            .filter(|r| !r.is_empty())
            .map(|r| r[0]["value"][1].clone())
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Never deployed: DEGRADED (1), scraped.
        let v = wait_for(30, "Prometheus to scrape gantry_status", || {
            query("gantry_status")
        });
        assert_eq!(v, "1");
        assert_eq!(
            wait_for(30, "probe success", || query(
                "gantry_probe_success{target=\"api\"}"
            )),
            "1"
        );
        p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
            .ok();
        wait_for(30, "gantry_status 0 in Prometheus", || {
            query("gantry_status").filter(|v| v == "0")
        });
        let w = wait_for(30, "weights", || {
            query("gantry_traffic_weight_percent{service=\"web\",version=\"v1\"}")
        });
        assert_eq!(w, "100");
        let up = wait_for(30, "up", || query("up{job=\"gantry\"}"));
        assert_eq!(up, "1", "Prometheus reached /metrics with the token");
    }));
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = outcome {
        eprintln!(
            "prometheus log:\n{}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        std::panic::resume_unwind(e);
    }
    drop(serve);
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}
