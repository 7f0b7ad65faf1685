//! The rule table in the control plane: entries it acts on count only when their signer may
//! write them.

use serde_json::json;

use crate::{Env, Opts, http_get};

/// Issue 7: a planner's `control.emergency_stop`, properly signed with the planner's own
/// key, put every service into 503 / CRITICAL after the next restart of `gantry serve`.
#[test]
fn issue7_a_planners_emergency_stop_does_nothing_after_restart() {
    let mut env = Env::new(Opts::default());
    env.deploy_v1();
    let forged = env.p.forge(
        "planner",
        "PlanAgent",
        "control.emergency_stop",
        json!({"status": "CRITICAL", "reason": "forged"}),
    );
    env.serve.kill9();
    env.serve.restart(&env.p);
    env.wait_for(20, "v1 serving again", |e| {
        http_get(e.addr(), "/", None).0 == 200
    });
    let ps = env.ps();
    assert_eq!(ps["status"], "OPERATIONAL", "{ps:#}");
    let (status, _) = http_get(env.addr(), "/", None);
    assert_eq!(status, 200);
    // The restarted control plane did not act on it: no stop recorded after the forgery.
    let after: Vec<_> = env
        .entries()
        .into_iter()
        .filter(|e| e["seq"].as_u64() > Some(forged.seq))
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !after.iter().any(|k| k.starts_with("control.emergency")),
        "{after:?}"
    );
    let verify = env.p.gantry(&["ledger", "verify"]).ok().stdout();
    assert!(
        verify.contains(&format!(
            "unauthorised entry at seq {} (control.emergency_stop, signed by planner/PlanAgent)",
            forged.seq
        )),
        "{verify}"
    );
    // An operator's deploy still works as before.
    env.p
        .gantry(&[
            "deploy",
            "web",
            "--version",
            "v2",
            "--strategy",
            "blue-green",
            "--wait",
        ])
        .ok();
}
