//! Each role × each route group: allowed, or 403 naming the permission and the role (and
//! an `access.denied` entry); no token, an unknown, expired or revoked one: 401 saying which.

use serde_json::Value;

use crate::{Env, call};

/// One call per route group that changes nothing when allowed (it fails for what it is:
/// an unknown release, nothing running), and the permission it needs.
const GROUPS: &[(&str, &str, &str, Option<&str>)] = &[
    ("read", "GET", "/v1/ps", None),
    ("read", "GET", "/v1/deployments/web-99", None),
    (
        "deploy",
        "POST",
        "/v1/services/web/deploy",
        Some(r#"{"version": "v9"}"#),
    ),
    ("promote", "POST", "/v1/services/web/promote", None),
    ("pause", "POST", "/v1/services/web/pause", None),
    ("resume", "POST", "/v1/services/web/resume", None),
    ("abort", "POST", "/v1/services/web/abort", None),
    (
        "rollback",
        "POST",
        "/v1/services/web/rollback",
        Some(r#"{"dry_run": true}"#),
    ),
    ("start", "POST", "/v1/control/start", None),
    ("manage_tokens", "GET", "/v1/tokens", None),
];

/// The permissions of each role under test (the built-in matrix and the custom `deployer`).
fn holds(role: &str, permission: &str) -> bool {
    let all = [
        "read",
        "deploy",
        "promote",
        "pause",
        "resume",
        "abort",
        "rollback",
        "start",
        "emergency_stop",
    ];
    match role {
        "admin" => true,
        "viewer" | "planner" | "verifier" => permission == "read",
        "operator" => all.contains(&permission),
        "deployer" => ["read", "deploy"].contains(&permission),
        _ => false,
    }
}

#[test]
fn issue10_each_role_may_call_exactly_its_route_groups() {
    let env = Env::start();
    let mut tokens: Vec<(String, String, String)> =
        ["viewer", "planner", "operator", "verifier", "deployer"]
            .iter()
            .map(|r| {
                (
                    r.to_string(),
                    format!("{r}-t"),
                    env.token(r, &format!("{r}-t"), None),
                )
            })
            .collect();
    tokens.push(("admin".into(), "admin.token".into(), env.admin_token()));
    let before = env.entries().len();
    let mut denied = 0;
    for (role, name, token) in &tokens {
        for (perm, method, path, body) in GROUPS {
            let reply = call(env.api(), method, path, Some(token), *body);
            let error = reply.json()["error"].clone();
            if holds(role, perm) {
                assert!(
                    ![401, 403].contains(&reply.status),
                    "{role} {method} {path}: {}",
                    reply.text
                );
                assert!(reply.status < 500, "{role} {method} {path}: {}", reply.text);
            } else {
                denied += 1;
                assert_eq!(reply.status, 403, "{role} {method} {path}: {}", reply.text);
                assert_eq!(error["code"], "forbidden", "{}", reply.text);
                let msg = error["message"].as_str().unwrap();
                assert!(
                    msg.contains(&format!("role '{role}'"))
                        && msg.contains(&format!("token '{name}'"))
                        && msg.contains(&format!("permission '{perm}'")),
                    "{msg}"
                );
                let hint = error["hint"].as_str().unwrap();
                assert!(hint.contains("gantry token create --role"), "{hint}");
            }
        }
    }
    // Every refusal is in the ledger with route, role, token name and permission.
    let entries = env.entries();
    let recorded: Vec<&Value> = entries[before..]
        .iter()
        .filter(|e| e["kind"] == "access.denied")
        .collect();
    assert_eq!(recorded.len(), denied);
    let viewer_deploy = recorded
        .iter()
        .find(|e| e["body"]["role"] == "viewer" && e["body"]["permission"] == "deploy")
        .expect("the viewer's refused deploy is recorded");
    assert_eq!(
        viewer_deploy["body"]["route"],
        "POST /v1/services/{service}/deploy"
    );
    assert_eq!(viewer_deploy["body"]["token"], "viewer-t");
    assert_eq!(viewer_deploy["actor"]["role"], "gantry");
    let ledger = env.p.ledger_lines().join("\n");
    for (_, _, token) in &tokens {
        assert!(
            !ledger.contains(token.as_str()),
            "a token reached the ledger"
        );
    }
    env.p.gantry(&["ledger", "verify"]).ok();

    // The emergency stop and the shutdown: refused for the roles without them (a refused
    // stop changes nothing), then the operator stops and starts for real.
    for (role, _, token) in &tokens {
        if role == "operator" || role == "admin" {
            continue;
        }
        let reply = call(
            env.api(),
            "POST",
            "/v1/control/emergency-stop",
            Some(token),
            None,
        );
        assert_eq!(reply.status, 403, "{role}: {}", reply.text);
    }
    let operator = &tokens[2].2;
    let reply = call(
        env.api(),
        "POST",
        "/v1/control/shutdown",
        Some(operator),
        None,
    );
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'shutdown'")
    );
    let ps = call(env.api(), "GET", "/v1/ps", Some(operator), None).json();
    assert_eq!(ps["emergency_stop"], false, "{ps}");
    let reply = call(
        env.api(),
        "POST",
        "/v1/control/emergency-stop",
        Some(operator),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = call(env.api(), "POST", "/v1/control/start", Some(operator), None);
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Signed as the operator and attributed to the token that asked.
    let stop = env
        .entries()
        .into_iter()
        .find(|e| e["kind"] == "control.emergency_stop")
        .expect("the stop is recorded");
    assert_eq!(stop["actor"]["role"], "operator", "{stop}");
    assert_eq!(stop["body"]["caller"]["role"], "operator", "{stop}");
    assert_eq!(stop["body"]["caller"]["token"], "operator-t", "{stop}");
}

#[test]
fn issue10_unknown_expired_and_revoked_tokens_get_401_saying_which() {
    let env = Env::start();
    let none = call(env.api(), "GET", "/v1/ps", None, None);
    assert_eq!(none.status, 401, "{}", none.text);
    assert_eq!(none.json()["error"]["code"], "unauthorized");
    assert!(
        none.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing Authorization header")
    );
    let unknown = call(
        env.api(),
        "GET",
        "/v1/ps",
        Some(&format!("gantry_{}", "0".repeat(64))),
        None,
    );
    assert_eq!(unknown.status, 401);
    assert!(
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong bearer token")
    );

    let short = env.token("operator", "short", Some("1s"));
    let gone = env.token("viewer", "gone", None);
    assert_eq!(
        call(env.api(), "GET", "/v1/ps", Some(&gone), None).status,
        200
    );
    env.p.gantry(&["token", "revoke", "gone"]).ok();
    let reply = call(env.api(), "GET", "/v1/ps", Some(&gone), None);
    assert_eq!(reply.status, 401, "{}", reply.text);
    let msg = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("token 'gone' was revoked at"), "{msg}");

    // Expiry is checked on every call: wait for the second to pass.
    env.wait_for(10, "the token to expire", || {
        call(env.api(), "GET", "/v1/ps", Some(&short), None).status == 401
    });
    let reply = call(
        env.api(),
        "POST",
        "/v1/services/web/pause",
        Some(&short),
        None,
    );
    assert_eq!(reply.status, 401, "{}", reply.text);
    let msg = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("token 'short' expired at"), "{msg}");

    let entries = env.entries();
    let reasons: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["kind"] == "access.denied")
        .map(|e| {
            (
                e["body"]["token"].as_str().unwrap(),
                e["body"]["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(reasons.contains(&("gone", "revoked")), "{reasons:?}");
    assert!(reasons.contains(&("short", "expired")), "{reasons:?}");
    // A call without a known token is not recorded (anyone could fill the ledger).
    assert!(
        reasons.iter().all(|(t, _)| *t == "gone" || *t == "short"),
        "{reasons:?}"
    );

    // The CLI reads GANTRY_TOKEN and says which permission is missing (exit 7).
    let viewer = env.token("viewer", "v", None);
    let run = env
        .p
        .command(&["deploy", "web", "--version", "v1"])
        .env("GANTRY_TOKEN", &viewer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("lacks the permission 'deploy'") && stderr.matches("hint:").count() == 1,
        "{stderr}"
    );
    // Last use is recorded.
    let list = env.p.gantry(&["--json", "token", "list"]).ok().json();
    let v = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "v")
        .unwrap()
        .clone();
    env.wait_for(10, "last_used of token v", || {
        let list = env.p.gantry(&["--json", "token", "list"]).ok().json();
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "v" && t["last_used"].is_string())
    });
    assert_eq!(v["status"], "active");
}
