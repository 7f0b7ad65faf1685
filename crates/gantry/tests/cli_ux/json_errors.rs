//! With `--json`, every error is one `{"error": {"code", "message", "hint"}}` object on
//! stdout, with the documented exit code.

use std::io::{Read, Write};

use gantry_test_support::Run;
use serde_json::Value;

use crate::{project, subcommands};

/// The error object on stdout (and nothing else there), or a panic showing the run.
#[track_caller]
fn error_of(run: &Run) -> Value {
    let doc = run.json();
    let error = &doc["error"];
    assert!(
        error["code"].is_string() && error["message"].is_string(),
        "not an error object: {doc:#}\nstderr: {}",
        run.stderr()
    );
    assert!(
        error["hint"].is_string() || error["hint"].is_null(),
        "{doc:#}"
    );
    error.clone()
}

#[test]
fn every_subcommand_answers_a_bad_argument_with_a_json_usage_error() {
    let p = project();
    let commands = subcommands(&p);
    for path in &commands {
        let mut args = vec!["--json"];
        args.extend(path.iter().map(String::as_str));
        args.push("--no-such-flag");
        let run = p.gantry(&args).fails_with(2);
        let error = error_of(&run);
        assert_eq!(error["code"], "usage", "gantry {}", path.join(" "));
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("--no-such-flag"),
            "gantry {}: {error:#}",
            path.join(" ")
        );
        assert!(run.stderr().is_empty(), "stderr: {}", run.stderr());
    }
    // Without --json, clap's own message on stderr, stdout empty.
    let plain = p.gantry(&["ps", "--no-such-flag"]).fails_with(2);
    assert!(plain.stdout().is_empty());
    assert!(plain.stderr().contains("--no-such-flag"));
}

#[test]
fn a_missing_subcommand_and_a_bad_value_are_json_too() {
    let p = project();
    let error = error_of(&p.gantry(&["--json"]).fails_with(2));
    assert_eq!(error["code"], "usage");
    let error = error_of(
        &p.gantry(&["--json", "ledger", "prove", "five"])
            .fails_with(2),
    );
    assert!(
        error["message"].as_str().unwrap().contains("five"),
        "{error:#}"
    );
    let error = error_of(&p.gantry(&["--json", "completions", "tcsh"]).fails_with(2));
    assert!(
        error["message"].as_str().unwrap().contains("tcsh"),
        "{error:#}"
    );
}

#[test]
fn run_time_errors_carry_their_code_and_a_hint() {
    let p = project();
    // No control plane: unavailable (5), with the command that starts one.
    let error = error_of(&p.gantry(&["--json", "ps"]).fails_with(5));
    assert_eq!(error["code"], "unavailable");
    assert!(
        error["hint"].as_str().unwrap().contains("gantry serve"),
        "{error:#}"
    );
    // An unknown run: usage (2).
    let error = error_of(&p.gantry(&["--json", "logs", "999"]).fails_with(2));
    assert_eq!(error["code"], "usage");
    assert!(error["message"].as_str().unwrap().contains("999"));
    // A broken gantry.yaml: config_invalid (2), located.
    std::fs::write(
        p.path().join("gantry.yaml"),
        "project: t\nservices:\n  web:\n    listne: x\n",
    )
    .unwrap();
    let run = p.gantry(&["--json", "check"]).fails_with(2);
    let error = error_of(&run);
    assert_eq!(error["code"], "config_invalid");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("gantry.yaml:4:5"),
        "{error:#}"
    );
    assert!(run.stderr().is_empty(), "stderr: {}", run.stderr());
}

/// A stand-in control plane on loopback answering every request with `status` and `body`.
fn answer_once(status: &str, body: &'static str) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let status = status.to_string();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        // The request head is enough; the body (if any) follows it at once.
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(reply.as_bytes()).unwrap();
    });
    (url, handle)
}

#[test]
fn the_control_planes_error_code_and_hint_pass_through() {
    let p = project();
    let (url, server) = answer_once(
        "409 Conflict",
        r#"{"error":{"code":"conflict","message":"web has a deployment in progress (3)","hint":"gantry abort web"}}"#,
    );
    let run = p
        .command(&["--json", "deploy", "web", "--version", "v2"])
        .env("GANTRY_URL", &url)
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(run.status.code(), Some(4));
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "conflict");
    assert_eq!(
        doc["error"]["message"],
        "web has a deployment in progress (3)"
    );
    assert_eq!(doc["error"]["hint"], "gantry abort web");

    // Today's shape (`{"error": "text"}`) still reads, with the code from the status.
    let (url, server) = answer_once("404 Not Found", r#"{"error":"no service 'api'"}"#);
    let run = p
        .command(&["--json", "pause", "api"])
        .env("GANTRY_URL", &url)
        .output()
        .unwrap();
    server.join().unwrap();
    assert_eq!(run.status.code(), Some(2));
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "usage");
    assert_eq!(doc["error"]["message"], "no service 'api'");
}
