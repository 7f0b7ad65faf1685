//! The decision log over the API (issue 14 scope 3 and 4): a service vetoed and approved as
//! the token's role, signed with that role's key, a deploy refused while the veto stands;
//! roles the permissions or the rule table refuse get 403 and an `access.denied` entry; a
//! production deploy waiting for approval is granted over the API by its environment's role
//! only.

use gantry_test_support::demo::free_port;
use serde_json::{Value, json};

use crate::{Env, call};

fn post(env: &Env, token: &str, path: &str, body: &Value) -> crate::Reply {
    call(
        env.api(),
        "POST",
        path,
        Some(token),
        Some(&body.to_string()),
    )
}

fn denied(env: &Env, role: &str) -> Vec<Value> {
    env.entries()
        .into_iter()
        .filter(|e| e["kind"] == "access.denied" && e["body"]["role"] == role)
        .collect()
}

#[test]
fn issue14_a_verifier_vetoes_over_the_api_the_deploy_is_refused_until_an_approve_over_the_api() {
    let env = Env::start();
    let [viewer, verifier] = ["viewer", "verifier"].map(|r| env.token(r, &format!("{r}-t"), None));
    let admin = env.admin_token();
    let veto = json!({"service": "web", "violation": "readinessProbeMissing",
        "specifics": ["web has no readiness probe"], "impact": "traffic reaches instances that are not up",
        "requirement": "a readiness probe", "action_needed": "add health.readiness"});

    // A viewer holds neither `veto` nor `approve`: 403 naming the permission, recorded.
    let reply = post(&env, &viewer, "/v1/decisions/veto", &veto);
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert!(
        reply.text.contains("lacks the permission 'veto'"),
        "{}",
        reply.text
    );
    let reply = post(
        &env,
        &viewer,
        "/v1/decisions/approve",
        &json!({"service": "web"}),
    );
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(denied(&env, "viewer").len(), 2);

    // Unknown fields and services are refused, nothing written.
    let reply = post(
        &env,
        &verifier,
        "/v1/decisions/veto",
        &json!({"service": "web", "violation": "x", "blockng": true}),
    );
    assert_eq!(reply.status, 400, "{}", reply.text);
    let reply = post(
        &env,
        &verifier,
        "/v1/decisions/veto",
        &json!({"service": "nope", "violation": "x"}),
    );
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert!(reply.text.contains("no service 'nope'"), "{}", reply.text);

    // The verifier vetoes (blocking by default), signed with the verifier's key.
    let reply = post(&env, &verifier, "/v1/decisions/veto", &veto);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let veto_seq = reply.json()["seq"].as_u64().unwrap();
    let entry = env
        .entries()
        .into_iter()
        .find(|e| e["seq"] == veto_seq)
        .unwrap();
    assert_eq!(entry["kind"], "decision.veto");
    assert_eq!(entry["actor"]["role"], "verifier");
    assert_eq!(entry["body"]["blocking"], true);
    assert_eq!(entry["body"]["caller"]["token"], "verifier-t");

    // A deploy is refused while it stands.
    env.p
        .gantry(&["deploy", "web", "--version", "v1"])
        .fails_with(4)
        .says("blocking veto");
    let reply = post(
        &env,
        &admin,
        "/v1/services/web/deploy",
        &json!({"version": "v1"}),
    );
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert!(reply.text.contains("1 blocking veto(es)"), "{}", reply.text);
    assert!(
        reply.text.contains("readinessProbeMissing"),
        "{}",
        reply.text
    );

    // The admin holds `approve`, but the rule table admits approves only from the
    // verifier or operator: 403 with the reason, recorded, nothing cleared.
    let reply = post(
        &env,
        &admin,
        "/v1/decisions/approve",
        &json!({"service": "web"}),
    );
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert!(
        reply.text.contains("may not write decision.approve"),
        "{}",
        reply.text
    );
    assert_eq!(denied(&env, "admin").len(), 1);

    // The verifier approves: the veto is cleared and the deploy proceeds.
    let reply = post(
        &env,
        &verifier,
        "/v1/decisions/approve",
        &json!({"service": "web", "summary": "readiness probe added"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let approved = reply.json();
    assert_eq!(approved["cleared"], json!([veto_seq]), "{approved}");
    env.p
        .gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();

    // The log over the API is what `gantry decisions --json` lists.
    let reply = call(
        env.api(),
        "GET",
        "/v1/decisions?service=web",
        Some(&viewer),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let listed = reply.json();
    let cli = env
        .p
        .gantry(&["--json", "decisions", "--service", "web"])
        .ok()
        .json();
    assert_eq!(listed, cli);
    let kinds: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["veto", "approve"]);
    assert_eq!(listed[0]["cleared_by"], approved["seq"]);
    assert_eq!(listed[0]["violation"], "readinessProbeMissing");
    let reply = call(
        env.api(),
        "GET",
        "/v1/decisions?service=api",
        Some(&viewer),
        None,
    );
    assert_eq!(reply.json(), json!([]));
    env.p
        .gantry(&["decisions"])
        .ok()
        .says("readinessProbeMissing");
    env.p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn issue14_a_production_deploy_waiting_for_approval_is_granted_over_the_api_by_its_role_only() {
    let (dev, staging) = (free_port(), free_port());
    let env = Env::start_with(|c| {
        c.replace(
            "pipelines:\n",
            &format!(
                "environments:\n  dev:\n    local: {{ listen: {{ web: 127.0.0.1:{dev} }} }}\n  staging:\n    local: {{ listen: {{ web: 127.0.0.1:{staging} }} }}\n  production:\n    approval: {{ role: verifier, timeout: 10m }}\npromotion: [dev, staging, production]\npipelines:\n"
            ),
        )
    });
    let [operator, verifier] =
        ["operator", "verifier"].map(|r| env.token(r, &format!("{r}-t"), None));
    let approve = "/v1/services/web@production/approve";

    // Nothing waits yet: 409.
    let reply = post(&env, &verifier, approve, &json!({}));
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert!(reply.text.contains("awaits approval"), "{}", reply.text);

    for e in ["dev", "staging"] {
        env.p
            .gantry(&["deploy", "web", "--env", e, "--version", "v1", "--wait"])
            .ok();
    }
    env.p
        .gantry(&["deploy", "web", "--env", "production", "--version", "v1"])
        .ok()
        .says("awaiting approval by verifier");

    // The operator holds `approve` but is not production's approval role: 403 naming it.
    let reply = post(&env, &operator, approve, &json!({"summary": "lgtm"}));
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert!(
        reply
            .text
            .contains("awaits approval by role 'verifier', not 'operator'"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("use a token of role 'verifier'"),
        "{}",
        reply.text
    );
    assert_eq!(denied(&env, "operator").len(), 1);
    let granted = |env: &Env| -> Vec<Value> {
        env.entries()
            .into_iter()
            .filter(|e| e["kind"] == "approval.granted")
            .collect()
    };
    assert!(granted(&env).is_empty());

    // The verifier grants it, signed with its key: the deployment starts.
    let reply = post(
        &env,
        &verifier,
        approve,
        &json!({"summary": "staging looked good"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answer = reply.json();
    assert_eq!(
        (
            answer["service"].as_str(),
            answer["env"].as_str(),
            answer["version"].as_str()
        ),
        (Some("web@production"), Some("production"), Some("v1")),
        "{answer}"
    );
    let g = granted(&env);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0]["actor"]["role"], "verifier");
    assert_eq!(g[0]["body"]["summary"], "staging looked good");
    env.wait_for(
        60,
        "web@production's deployment to start after the approval",
        || {
            env.entries().iter().any(|e| {
                e["kind"] == "deployment.state.started"
                    && e["body"]["service"] == "web@production"
                    && e["seq"].as_u64() > g[0]["seq"].as_u64()
            })
        },
    );
    // Granted once: nothing waits now.
    let reply = post(&env, &verifier, approve, &json!({}));
    assert_eq!(reply.status, 409, "{}", reply.text);
    env.p.gantry(&["ledger", "verify"]).ok();
}
