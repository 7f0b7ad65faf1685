//! Scheduled rounds under `gantry serve` keep to their schedule while a target hangs.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::serve::Serve;

use super::{BIN, HttpTarget};

#[test]
fn a_hanging_target_holds_back_neither_the_schedule_nor_the_other_targets() {
    let fast = HttpTarget::start();
    // Accepts connections and never answers: each probe of it lasts its whole 30 s timeout.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in hang.incoming().flatten() {
            counter.fetch_add(1, Ordering::AcqRel);
            held.push(conn);
        }
    });
    let p = TestProject::init(BIN);
    std::fs::write(
        p.path().join("gantry.yaml"),
        format!(
            "project: mon\npolicy: {{ default: warning }}\nagents:\n  operator: {{ id: Ops }}\nmonitor:\n  interval: 200ms\n  targets:\n    fast: {{ http: \"{}\" }}\n    hang: {{ http: \"http://{hang_addr}/\", timeout: 30s }}\n",
            fast.url("/health")
        ),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    let serve = Serve::start(&p);

    // Rounds that waited for `hang` would probe `fast` once per 30 s; on schedule it is
    // probed every 200 ms. 20 s is slack for a loaded machine, still short of the timeout.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fast.hits.load(Ordering::Acquire) < 10 {
        assert!(
            Instant::now() < deadline,
            "`fast` was probed {} times in 20 s while `hang` hung:\n{}",
            fast.hits.load(Ordering::Acquire),
            serve.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // One probe of `hang` at a time: the rounds due while it runs leave it out.
    assert_eq!(accepted.load(Ordering::Acquire), 1);

    let token = std::fs::read_to_string(p.path().join(".gantry/admin.token")).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sf", "-H"])
        .arg(format!("Authorization: Bearer {}", token.trim()))
        .arg(format!("{}/metrics", serve.url))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("gantry_probe_lateness_seconds_count "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no gantry_probe_lateness_seconds_count in:\n{text}"));
    // Every scheduled probe of `fast` is timed against its due time.
    assert!(count >= 9, "{count} scheduled probes timed:\n{text}");
    assert!(
        !text.contains("gantry_probes_total{target=\"hang\""),
        "hang's probe cannot have ended yet:\n{text}"
    );
}
