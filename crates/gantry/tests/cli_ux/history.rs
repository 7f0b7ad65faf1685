//! `gantry history SERVICE` from the ledger, with the control plane running or not.

use std::time::{Duration, Instant};

use gantry_test_support::serve::Serve;

use crate::interrupt::canary_project;

#[test]
fn history_lists_each_deployment_with_outcome_and_who_even_without_serve() {
    let p = canary_project();
    p.gantry(&["history", "web"])
        .ok()
        .says("web: not deployed yet");
    let mut serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    while p.gantry(&["abort", "web"]).code() != 0 {
        assert!(Instant::now() < deadline, "abort was never taken");
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = p.gantry(&["--json", "history", "web"]).ok().json();
        if h["revisions"][1]["in_progress"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "the abort never ended: {h:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    serve.stop();

    let h = p.gantry(&["--json", "history", "web"]).ok().json();
    let revs = h["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 2, "{h:#}");
    assert_eq!(revs[0]["revision"], 1);
    assert_eq!(revs[0]["to"], "v1");
    assert_eq!(revs[0]["outcome"], "succeeded");
    assert_eq!(revs[1]["from"], "v1");
    assert_eq!(revs[1]["to"], "v2");
    assert_eq!(revs[1]["strategy"], "canary");
    assert_eq!(revs[1]["outcome"], "aborted");
    assert!(
        revs[1]["started_by"]
            .as_str()
            .unwrap()
            .starts_with("operator"),
        "{h:#}"
    );
    assert!(
        revs[1]["duration_ms"].as_i64().is_some_and(|ms| ms >= 0),
        "{h:#}"
    );

    let text = p.gantry(&["history", "web"]).ok().stdout();
    assert!(
        text.contains("nothing → v1") && text.contains("v1 → v2"),
        "{text}"
    );
    assert!(
        text.contains("aborted") && text.contains("canary"),
        "{text}"
    );
    p.gantry(&["history", "nosuch"])
        .fails_with(2)
        .says("no service 'nosuch'");

    // The outcomes report (issue 11 item 8) has them too, though no pipeline ran.
    p.gantry(&["report", "--rebuild"]).ok();
    let report =
        std::fs::read_to_string(p.path().join("docs/reports/DEPLOYMENT_OUTCOMES.md")).unwrap();
    assert!(report.contains("## Deployments"), "{report}");
    assert!(report.contains("| web | 1 | nothing → v1 |"), "{report}");
    assert!(
        report.contains("| web | 2 | v1 → v2 | canary | aborted | operator"),
        "{report}"
    );
}
