//! Pipeline runs over the HTTP API (issue 10 scope 5): start a run as the planner, read it
//! and its step logs as anyone, sign or veto its checkpoint only as the role it names;
//! each role × route allowed or 403, refusals and decisions in the ledger under the role.

use serde_json::Value;

use crate::{Env, call};

/// Starts pipeline `release` with `token`; the run id.
fn start(env: &Env, token: &str) -> String {
    let reply = call(
        env.api(),
        "POST",
        "/v1/pipelines/release/runs",
        Some(token),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["run"].as_str().unwrap().to_string()
}

fn run(env: &Env, token: &str, id: &str) -> Value {
    let reply = call(
        env.api(),
        "GET",
        &format!("/v1/runs/{id}"),
        Some(token),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

fn wait_checkpoint(env: &Env, token: &str, id: &str) {
    env.wait_for(60, "the build checkpoint to wait", || {
        run(env, token, id)["checkpoints"][0]["status"] == "waiting"
    });
}

fn wait_status(env: &Env, token: &str, id: &str, want: &str) -> Value {
    let mut last = Value::Null;
    env.wait_for(60, &format!("run {id} to be {want}"), || {
        last = run(env, token, id);
        last["status"] == want
    });
    last
}

/// The ledger entries of `kind` that belong to run `id`.
fn run_entries(env: &Env, kind: &str, id: &str) -> Vec<Value> {
    env.entries()
        .into_iter()
        .filter(|e| e["kind"] == kind && e["body"]["run"] == id)
        .collect()
}

fn decide(env: &Env, token: &str, id: &str, what: &str, body: Option<&str>) -> crate::Reply {
    call(
        env.api(),
        "POST",
        &format!("/v1/runs/{id}/checkpoints/build/{what}"),
        Some(token),
        body,
    )
}

#[test]
fn issue10_runs_over_the_api_start_as_planner_read_as_anyone_and_decide_as_the_checkpoint_role() {
    let env = Env::start();
    let [viewer, planner, operator, verifier] = ["viewer", "planner", "operator", "verifier"]
        .map(|r| env.token(r, &format!("{r}-t"), None));
    let admin = env.admin_token();

    // Only roles holding `run_pipeline` start runs; the others get 403 naming it.
    for (role, token) in [
        ("viewer", &viewer),
        ("operator", &operator),
        ("verifier", &verifier),
    ] {
        let reply = call(
            env.api(),
            "POST",
            "/v1/pipelines/release/runs",
            Some(token),
            None,
        );
        assert_eq!(reply.status, 403, "{role}: {}", reply.text);
        let msg = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("'run_pipeline'") && msg.contains(&format!("role '{role}'")),
            "{msg}"
        );
    }
    let unknown = call(
        env.api(),
        "POST",
        "/v1/pipelines/nope/runs",
        Some(&planner),
        None,
    );
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert!(
        unknown.text.contains("pipelines: release"),
        "{}",
        unknown.text
    );
    let bad = call(
        env.api(),
        "POST",
        "/v1/pipelines/release/runs",
        Some(&planner),
        Some(r#"{"jobs": 0}"#),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);

    let id = start(&env, &planner);
    let started = run_entries(&env, "pipeline.state.started", &id)
        .into_iter()
        .next()
        .expect("the run's start is in the ledger when the API answers");
    assert_eq!(started["body"]["caller"]["role"], "planner", "{started}");
    assert_eq!(started["body"]["caller"]["token"], "planner-t", "{started}");

    // Every role reads runs; the run waits for the verifier.
    for token in [&viewer, &planner, &operator, &verifier, &admin] {
        let list = call(env.api(), "GET", "/v1/runs", Some(token), None);
        assert_eq!(list.status, 200, "{}", list.text);
        assert!(
            list.json()["runs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == id.as_str())
        );
    }
    wait_checkpoint(&env, &viewer, &id);
    assert!(
        !env.p.path().join("shipped.txt").exists(),
        "ship waits for the signature"
    );

    // The step's log, with the same confinement as `gantry logs`.
    let logs = call(
        env.api(),
        "GET",
        &format!("/v1/runs/{id}/logs/build%2Ftest"),
        Some(&viewer),
        None,
    );
    assert_eq!(logs.status, 200, "{}", logs.text);
    assert!(
        logs.json()["logs"][0]["text"]
            .as_str()
            .unwrap()
            .contains("built-ok"),
        "{}",
        logs.text
    );
    let none = call(
        env.api(),
        "GET",
        &format!("/v1/runs/{id}/logs/nothing"),
        Some(&viewer),
        None,
    );
    assert_eq!(none.status, 404, "{}", none.text);

    // Roles without `sign` are refused by permission; admin holds it but is not the role
    // the checkpoint names: refused with the reason, and recorded.
    for (role, token) in [
        ("viewer", &viewer),
        ("planner", &planner),
        ("operator", &operator),
    ] {
        let reply = decide(&env, token, &id, "sign", Some(r#"{"summary": "ok"}"#));
        assert_eq!(reply.status, 403, "{role}: {}", reply.text);
        assert!(reply.text.contains("'sign'"), "{}", reply.text);
    }
    let reply = decide(&env, &admin, &id, "sign", Some(r#"{"summary": "ok"}"#));
    assert_eq!(reply.status, 403, "{}", reply.text);
    let msg = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("must be signed by role 'verifier', not 'admin'"),
        "{msg}"
    );
    let denied: Vec<Value> = env
        .entries()
        .into_iter()
        .filter(|e| e["kind"] == "access.denied" && e["body"]["reason"] == "checkpoint_role")
        .collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["body"]["role"], "admin");
    assert_eq!(denied[0]["body"]["permission"], "sign");
    let missing = decide(&env, &verifier, &id, "sign", None);
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert!(
        missing.text.contains("requires --summary"),
        "{}",
        missing.text
    );

    let signed = decide(
        &env,
        &verifier,
        &id,
        "sign",
        Some(r#"{"summary": "tests pass", "tokens": 12}"#),
    );
    assert_eq!(signed.status, 200, "{}", signed.text);
    assert_eq!(signed.json()["decision"], "signed");
    let done = wait_status(&env, &viewer, &id, "succeeded");
    assert_eq!(done["checkpoints"][0]["status"], "signed", "{done}");
    assert!(env.p.path().join("shipped.txt").exists());
    let again = decide(
        &env,
        &verifier,
        &id,
        "sign",
        Some(r#"{"summary": "again"}"#),
    );
    assert_eq!(again.status, 409, "{}", again.text);
    let entry = run_entries(&env, "checkpoint.signed", &id)
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(entry["actor"]["role"], "verifier", "{entry}");
    assert_eq!(entry["body"]["caller"]["token"], "verifier-t", "{entry}");
    assert_eq!(entry["body"]["tokens_used"], 12, "{entry}");
    // The run's output joined its own files.
    assert!(
        env.p
            .path()
            .join(format!(".gantry/runs/{id}/gantry-run.out"))
            .is_file()
    );

    // A veto fails the run with its reason; `veto` is the verifier's too.
    std::fs::remove_file(env.p.path().join("shipped.txt")).unwrap();
    let second = start(&env, &planner);
    wait_checkpoint(&env, &viewer, &second);
    let reply = decide(
        &env,
        &planner,
        &second,
        "veto",
        Some(r#"{"summary": "no"}"#),
    );
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert!(reply.text.contains("'veto'"), "{}", reply.text);
    let reply = decide(&env, &verifier, &second, "veto", None);
    assert_eq!(reply.status, 400, "a veto needs its reason: {}", reply.text);
    let reply = decide(
        &env,
        &verifier,
        &second,
        "veto",
        Some(r#"{"summary": "flaky tests"}"#),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let failed = wait_status(&env, &viewer, &second, "failed");
    assert!(
        failed["reason"].as_str().unwrap().contains("flaky tests"),
        "{failed}"
    );
    assert!(
        !env.p.path().join("shipped.txt").exists(),
        "a vetoed run does not ship"
    );

    // A log path forged into the ledger (by a key that may write step entries) is refused,
    // never read.
    env.p.forge(
        "operator",
        "OperationsBoardAgent",
        "step.state.started",
        serde_json::json!({"run": id, "stage": "ship", "step": 9, "name": "leak",
            "log": format!(".gantry/runs/{id}/../../../gantry.yaml"), "attempt": 1}),
    );
    let leak = call(
        env.api(),
        "GET",
        &format!("/v1/runs/{id}/logs/leak"),
        Some(&viewer),
        None,
    );
    assert_eq!(leak.status, 200, "{}", leak.text);
    let got = &leak.json()["logs"][0];
    assert!(
        got["refused"]
            .as_str()
            .unwrap()
            .contains("not inside the run's directory"),
        "{got}"
    );
    assert!(got["text"].is_null(), "{got}");
    env.p.gantry(&["ledger", "verify"]).ok();
}

/// A client's number the ledger cannot hold exactly (beyond ±(2^53−1)) is refused with
/// 400 naming it, nothing is recorded for it, and the ledger takes the next decision.
#[test]
fn issue10_a_decision_reporting_an_unrepresentable_token_count_is_refused_and_nothing_breaks() {
    let env = Env::start();
    let planner = env.token("planner", "planner-t", None);
    let verifier = env.token("verifier", "verifier-t", None);
    let id = start(&env, &planner);
    wait_checkpoint(&env, &verifier, &id);

    let huge = decide(
        &env,
        &verifier,
        &id,
        "sign",
        Some(r#"{"summary": "ok", "tokens": 9007199254740993}"#),
    );
    assert_eq!(huge.status, 400, "{}", huge.text);
    assert!(huge.text.contains("9007199254740993"), "{}", huge.text);
    assert_eq!(
        run(&env, &verifier, &id)["checkpoints"][0]["status"],
        "waiting"
    );

    let signed = decide(
        &env,
        &verifier,
        &id,
        "sign",
        Some(r#"{"summary": "tests pass", "tokens": 9007199254740991}"#),
    );
    assert_eq!(signed.status, 200, "{}", signed.text);
    wait_status(&env, &verifier, &id, "succeeded");
    let signed = run_entries(&env, "checkpoint.signed", &id);
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(signed[0]["body"]["tokens_used"], 9007199254740991_u64);
}
