//! `GET /v1/openapi.json`: an OpenAPI 3.1 document that validates, whose every route the
//! live server routes, and that a bounded schemathesis run finds no 5xx and no answer
//! outside of.

use std::process::Command;

use crate::{Env, call, venv_tool};

#[test]
fn issue10_the_openapi_document_validates_and_matches_the_live_routes() {
    let env = Env::start();
    let viewer = env.token("viewer", "docs", None);
    let reply = call(env.api(), "GET", "/v1/openapi.json", Some(&viewer), None);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 11, "{doc}");
    // Every documented route is routed: a viewer gets its answer or a 403 naming the
    // route's permission, never "no API route" or 405.
    for (path, item) in paths {
        // The event stream never ends; `events.rs` tests it.
        if path == "/v1/events" {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{service}", "web")
                .replace("{op}", "pause")
                .replace("{id}", "web-1")
                .replace("{pipeline}", "release")
                .replace("{stage}", "build")
                .replace("{step}", "test");
            let reply = call(
                env.api(),
                &method.to_uppercase(),
                &concrete,
                Some(&viewer),
                None,
            );
            assert!(
                ![404, 405].contains(&reply.status)
                    || reply.json()["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no deployment") || m.starts_with("no run")),
                "{method} {path}: {}",
                reply.text
            );
            assert!(
                reply.status != 403
                    || reply.json()["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("lacks the permission")),
                "{}",
                reply.text
            );
        }
    }

    let Some(python) = venv_tool("python3", "import openapi_spec_validator, schemathesis") else {
        return;
    };
    let file = env.p.path().join("openapi.json");
    std::fs::write(&file, reply.body()).unwrap();
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // schemathesis as an operator (it may stop and start, but not shut down the server).
    let operator = env.token("operator", "fuzz", None);
    let st = venv_tool("schemathesis", "import schemathesis").unwrap();
    let out = Command::new(st)
        .args(["run", &format!("{}/v1/openapi.json", env.serve.url)])
        .args(["-H", &format!("Authorization: Bearer {operator}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--no-color",
            // An endless stream; schemathesis would wait on it forever.
            "--exclude-path",
            "/v1/events",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(env.p.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "schemathesis:\n{text}\nserve log:\n{}",
        env.serve.log_text()
    );
    assert!(!text.contains("Server error"), "{text}");
    // It generated and checked cases against every operation (a summary line like
    // "561 generated, 561 passed").
    let cases = text
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_else(|| panic!("no test-case summary:\n{text}"));
    assert!(
        cases.contains(" passed") && !cases.contains("failed"),
        "{text}"
    );
    // The run went through the API (not just a schema load).
    let ledger = env.p.ledger_lines().join("\n");
    assert!(
        ledger.contains("access.denied"),
        "schemathesis never reached a refused route"
    );
}
