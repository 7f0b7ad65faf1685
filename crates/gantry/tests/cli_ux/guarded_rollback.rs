//! Guarded rollback (issue 11, item 4): `rollback --to V` where analysis rolled V back is
//! refused (exit 7, a JSON error) without `--force`; the plan says so, and whether analysis
//! applies; with `--force` it goes ahead.

use std::net::SocketAddr;

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::load::Load;
use gantry_test_support::serve::Serve;

use crate::{BIN, project};

/// v1 and v3 good, v2 answering half its requests with 500; analysis on 1 s windows.
fn project_with_a_bad_release() -> (TestProject, u16) {
    let p = project();
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    let port = free_port();
    p.write_config(&format!(
        "project: test\nagents:\n  planner: {{ id: PlanAgent }}\n  operator: {{ id: OperationsBoardAgent }}\n  verifier: {{ id: ReviewAgent }}\n\
services:\n  web:\n    listen: 127.0.0.1:{port}\n    releases:\n      v1: {{ run: \"{d} --port {{port}} --version v1\" }}\n      v2: {{ run: \"{d} --port {{port}} --version v2 --error-rate 0.5\" }}\n      v3: {{ run: \"{d} --port {{port}} --version v3\" }}\n\
\x20   health:\n      readiness: {{ http: /health, period: 100ms, timeout: 500ms }}\n\
\x20   strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 1500ms}} ] }} }}\n\
\x20   analysis: {{ error_rate: \"< 5%\", min_requests: 10, window: 1s, inconclusive: pass }}\n\
policy: {{ default: warning }}\n"
    ));
    p.gantry(&["check"]).ok();
    (p, port)
}

#[test]
fn rollback_to_a_version_analysis_rolled_back_needs_force() {
    let (p, port) = project_with_a_bad_release();
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let load = Load::start(SocketAddr::from(([127, 0, 0, 1], port)), 100, 4);
    p.gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .fails_with(3);
    drop(load);
    p.gantry(&["deploy", "web", "--version", "v3", "--wait"])
        .ok();

    let refused = p.gantry(&["--json", "rollback", "web", "--to", "v2"]);
    assert_eq!(refused.code(), 7, "{}", refused.stderr());
    let err = refused.json();
    assert_eq!(err["error"]["code"], "rollback_target_failed", "{err}");
    let msg = err["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("web v2 was rolled back in revision 2"),
        "{msg}"
    );
    assert!(
        err["error"]["hint"].as_str().unwrap().contains("--force"),
        "{err}"
    );
    // Nothing changed: v3 still serves, no rollback was planned.
    assert!(
        p.ledger_lines()
            .iter()
            .all(|l| !l.contains("\"rollback.planned\""))
    );

    let plan = p
        .gantry(&["rollback", "web", "--to", "v2", "--dry-run"])
        .ok();
    assert!(
        plan.stderr().contains("refuses it without --force"),
        "{}",
        plan.stderr()
    );
    plan.says("analysis does not apply");
    let plan = p
        .gantry(&["--json", "rollback", "web", "--to", "v1", "--dry-run"])
        .ok()
        .json();
    assert_eq!(plan["analysis_applies"], false, "{plan}");
    assert!(plan.get("warning").is_none(), "v1 never failed: {plan}");

    p.gantry(&["rollback", "web", "--to", "v2", "--force"]).ok();
    let ps = p.gantry(&["--json", "ps"]).ok().json();
    assert_eq!(ps["services"][0]["stable"], "v2", "{ps}");
}
