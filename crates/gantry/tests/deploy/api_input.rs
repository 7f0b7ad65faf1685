//! Strict API input: an unknown field, malformed JSON, a wrong type or a missing content
//! type is a 400 with a JSON error, and changes nothing.

use crate::{Env, Opts, http};

fn post(env: &Env, path: &str, content_type: Option<&str>, body: &str) -> crate::Reply {
    let auth = format!("Bearer {}", env.token());
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(ct) = content_type {
        headers.push(("Content-Type", ct));
    }
    http(env.api(), "POST", path, &headers, Some(body))
}

#[test]
fn issue7_rollback_with_a_misspelt_dry_run_is_a_400_and_changes_nothing() {
    let env = Env::new(Opts {
        strategy: "{ blue_green: { auto_promote: true, scale_down_delay: 0s } }",
        ..Opts::default()
    });
    env.deploy_v1();
    env.p
        .gantry(&["deploy", "web", "--version", "v2", "--wait"])
        .ok();
    let ledger = crate::operations(&env.p.ledger_path());
    let before = env.web();

    let reply = post(
        &env,
        "/v1/services/web/rollback",
        Some("application/json"),
        r#"{"dry-run": true}"#,
    );
    assert_eq!(reply.status, 400, "{}", reply.text);
    let error = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("unknown field `dry-run`") && error.contains("`dry_run`"),
        "{error}"
    );
    // Nothing was recorded or changed; and the dry run below, which the service's owner
    // takes only after every earlier call and refuses while a rollback runs, proves that
    // none was started.
    assert_eq!(crate::operations(&env.p.ledger_path()), ledger);
    let after = env.web();
    assert_eq!(after["stable"], "v2");
    assert_eq!(after["instances"], before["instances"]);
    assert_eq!(after["weights"], before["weights"]);

    // The spelling the API knows is a dry run (refused if a rollback were running), and
    // also writes nothing.
    let reply = post(
        &env,
        "/v1/services/web/rollback",
        Some("application/json"),
        r#"{"dry_run": true}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["plan"]["to"], "v1");
    assert_eq!(crate::operations(&env.p.ledger_path()), ledger);
}

#[test]
fn issue7_bad_bodies_and_content_types_are_400_with_a_json_error() {
    let env = Env::new(Opts::default());
    let ledger = crate::operations(&env.p.ledger_path());
    let json = Some("application/json");
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        // Unknown fields, on every route that takes a body.
        (
            "/v1/services/web/deploy",
            json,
            r#"{"version": "v1", "stratgey": "canary"}"#,
            "unknown field `stratgey`",
        ),
        (
            "/v1/services/web/promote",
            json,
            r#"{"ful": true}"#,
            "unknown field `ful`",
        ),
        (
            "/v1/services/web/abort",
            json,
            r#"{"force": true}"#,
            "unknown field `force`",
        ),
        (
            "/v1/control/emergency-stop",
            json,
            r#"{"services": ["web"]}"#,
            "unknown field `services`",
        ),
        // Wrong types and values.
        (
            "/v1/services/web/rollback",
            json,
            r#"{"dry_run": "yes"}"#,
            "invalid type",
        ),
        (
            "/v1/services/web/deploy",
            json,
            r#"{"version": "v1", "strategy": "big-bang"}"#,
            "unknown variant `big-bang`",
        ),
        (
            "/v1/services/web/deploy",
            json,
            r#"["v1"]"#,
            "expected a JSON object",
        ),
        // Malformed JSON names where.
        (
            "/v1/services/web/deploy",
            json,
            r#"{"version": "v1""#,
            "line 1 column",
        ),
        // Content type missing or wrong: refused, not ignored.
        (
            "/v1/services/web/deploy",
            None,
            r#"{"version": "v1"}"#,
            "no Content-Type",
        ),
        (
            "/v1/services/web/promote",
            Some("text/plain"),
            r#"{"full": true}"#,
            "Content-Type is `text/plain`",
        ),
        // A rollback must say what it wants; an empty body is not a request to roll back.
        (
            "/v1/services/web/rollback",
            json,
            "",
            "needs a JSON object body",
        ),
    ];
    for (path, ct, body, says) in cases {
        let reply = post(&env, path, *ct, body);
        assert_eq!(reply.status, 400, "POST {path} {body}: {}", reply.text);
        assert!(
            reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{}",
            reply.text
        );
        let error = reply.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains(says), "POST {path} {body}: {error}");
    }
    // Nothing was deployed or stopped by any of them.
    assert_eq!(crate::operations(&env.p.ledger_path()), ledger);
    let ps = env.ps();
    assert_eq!(ps["emergency_stop"], false, "{ps}");
    assert_eq!(
        ps["services"][0]["instances"],
        serde_json::json!([]),
        "{ps}"
    );

    // Operations without parameters take no body or `{}`; they then fail for what they
    // are (nothing to promote), not for the body.
    for (ct, body) in [(None, ""), (json, "{}")] {
        let reply = post(&env, "/v1/services/web/promote", ct, body);
        assert_eq!(reply.status, 409, "{}", reply.text);
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .is_some_and(|e| e.contains("no deployment of web is running")),
            "{}",
            reply.text
        );
    }
    // An unknown route or method answers in JSON too.
    let reply = post(&env, "/v1/nothing/here", json, "{}");
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.json()["error"]["code"], "not_found", "{}", reply.text);
    assert!(
        reply.json()["error"]["message"].as_str().is_some(),
        "{}",
        reply.text
    );
    let reply = post(&env, "/v1/ps", json, "{}");
    assert_eq!(reply.status, 405, "{}", reply.text);
    assert!(
        reply.json()["error"]["message"].as_str().is_some(),
        "{}",
        reply.text
    );
}
