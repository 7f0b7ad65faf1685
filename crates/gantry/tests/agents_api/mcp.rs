//! Issue 10 scope 5: the MCP server driven by a client nobody here wrote — the official
//! MCP Python SDK (`mcp` on PyPI, in .venv from scripts/test.sh) — through the operations
//! runbook over stdio (`gantry mcp`) and streamable HTTP (`/mcp` under `gantry serve`),
//! as an operator and as a viewer; then every step is looked up in the ledger.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use gantry_test_support::load::Load;
use serde_json::Value;

use crate::{BIN, Env, venv_tool};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/agents_api/mcp_runbook.py"
);

/// The loopback address of service `web` in the test config.
fn web_addr(env: &Env) -> std::net::SocketAddr {
    let text = std::fs::read_to_string(env.p.path().join("gantry.yaml")).unwrap();
    let listen = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("listen: "))
        .unwrap();
    listen.trim().parse().unwrap()
}

/// Runs the runbook script; panics with its output (and the serve log) if it fails.
fn runbook(env: &Env, python: &Path, args: &[&str]) -> Vec<Value> {
    let out = Command::new(python)
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "runbook {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}\nserve log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        env.serve.log_text()
    );
    // The SDK ends each HTTP session with DELETE and warns unless it is answered 200/204.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("Session termination failed"),
        "runbook {args:?}: {stderr}"
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn find<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {steps:?}"))
}

/// The kinds the ledger holds for calls made with token `name`, each checked to be
/// signed as `role` and attributed to that role.
fn kinds_by(entries: &[Value], name: &str, role: &str) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for e in entries
        .iter()
        .filter(|e| e["body"]["caller"]["token"] == name)
    {
        assert_eq!(e["body"]["caller"]["role"], role, "{e}");
        assert_eq!(e["actor"]["role"], role, "{e}");
        kinds.insert(e["kind"].as_str().unwrap().to_string());
    }
    kinds
}

fn denied_deploy(entries: &[Value], token: &str) -> bool {
    entries.iter().any(|e| {
        e["kind"] == "access.denied"
            && e["body"]["token"] == token
            && e["body"]["role"] == "viewer"
            && e["body"]["permission"] == "deploy"
    })
}

#[test]
fn issue10_the_official_mcp_sdk_runs_the_runbook_over_stdio_and_http_and_the_ledger_has_every_step()
{
    let Some(python) = venv_tool("python3", "import mcp.client.streamable_http") else {
        return;
    };
    let env = Env::start();
    let project = env.p.path().to_str().unwrap().to_string();
    env.p
        .gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let load = Load::start(web_addr(&env), 150, 4);

    let op_stdio = env.token("operator", "mcp-stdio", None);
    let steps = runbook(
        &env,
        &python,
        &[
            "--transport",
            "stdio",
            "--role",
            "operator",
            "--token",
            &op_stdio,
            "--gantry",
            BIN,
            "--project",
            &project,
            "--good",
            "v2",
            "--start",
            "v1",
        ],
    );
    let bad = find(&steps, "bad_deploy");
    assert_eq!(bad["phase"], "rolled_back", "{bad}");
    assert!(bad["error_rate"].as_f64().unwrap() > 0.05, "{bad}");
    assert!(find(&steps, "deploy")["progress"].as_u64().unwrap() > 0);
    assert_eq!(find(&steps, "rollback")["to"], "v2");

    let url = format!("{}/mcp", env.serve.url);
    let op_http = env.token("operator", "mcp-http", None);
    let steps = runbook(
        &env,
        &python,
        &[
            "--transport",
            "http",
            "--role",
            "operator",
            "--token",
            &op_http,
            "--url",
            &url,
            "--good",
            "v1",
            "--start",
            "v2",
        ],
    );
    assert_eq!(find(&steps, "bad_deploy")["phase"], "rolled_back");
    assert_eq!(find(&steps, "rollback")["to"], "v1");

    let viewer = env.token("viewer", "mcp-viewer", None);
    for transport in ["stdio", "http"] {
        let mut args = vec![
            "--transport",
            transport,
            "--role",
            "viewer",
            "--token",
            &viewer,
        ];
        args.extend(match transport {
            "stdio" => ["--gantry", BIN, "--project", &project],
            _ => ["--url", url.as_str(), "--url", url.as_str()],
        });
        let steps = runbook(&env, &python, &args);
        let v = find(&steps, "viewer");
        assert_eq!(v["refused"]["permission"], "deploy", "{v}");
        assert_eq!(v["refused"]["code"], "forbidden", "{v}");
    }
    let stats = load.stop();
    assert!(stats.served_by("v3") > 0, "the bad canary got traffic");

    let entries = env.entries();
    for token in ["mcp-stdio", "mcp-http"] {
        let kinds = kinds_by(&entries, token, "operator");
        for want in [
            "deployment.state.started",
            "control.emergency_stop",
            "control.started",
        ] {
            assert!(kinds.contains(want), "{token}: no {want} in {kinds:?}");
        }
        assert!(
            kinds.iter().any(|k| k.starts_with("rollback")),
            "{token}: no rollback entry in {kinds:?}"
        );
        // deploy good, deploy bad, update, rollback: four deployments started by the token.
        let started = entries
            .iter()
            .filter(|e| {
                e["body"]["caller"]["token"] == token && e["kind"] == "deployment.state.started"
            })
            .count();
        assert!(started >= 3, "{token}: {started} deployments started");
    }
    // The automatic rollback of v3 is the control plane's own doing, not the caller's.
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "deployment.state.rolled_back" && e["body"]["caller"].is_null()),
        "no automatic rollback entry"
    );
    assert!(
        denied_deploy(&entries, "mcp-viewer"),
        "the viewer's deploy is not in the ledger"
    );
}

/// The entries about run `run` of `kind`.
fn of_run<'a>(entries: &'a [Value], run: &str, kind: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == kind && e["body"]["run"] == run)
        .collect()
}

#[test]
fn issue10_over_mcp_a_planner_runs_a_pipeline_the_verifier_signs_or_vetoes_it_and_a_viewer_may_not()
{
    let Some(python) = venv_tool("python3", "import mcp.client.streamable_http") else {
        return;
    };
    let env = Env::start();
    let project = env.p.path().to_str().unwrap().to_string();
    let url = format!("{}/mcp", env.serve.url);
    for transport in ["stdio", "http"] {
        let [planner, verifier, viewer] = ["planner", "verifier", "viewer"]
            .map(|r| env.token(r, &format!("{r}-{transport}"), None));
        let mut args = vec![
            "--transport",
            transport,
            "--role",
            "pipeline",
            "--token",
            &planner,
            "--verifier-token",
            &verifier,
            "--viewer-token",
            &viewer,
        ];
        match transport {
            "stdio" => args.extend(["--gantry", BIN, "--project", &project]),
            _ => args.extend(["--url", &url]),
        }
        let steps = runbook(&env, &python, &args);
        let signed = find(&steps, "pipeline_signed");
        assert_eq!(signed["status"], "succeeded", "{signed}");
        assert!(signed["progress"].as_u64().unwrap() >= 3, "{signed}");
        let vetoed = find(&steps, "pipeline_vetoed");
        assert_eq!(vetoed["status"], "failed", "{vetoed}");

        // In the ledger under the right roles: started for the planner, decided by the
        // verifier's key for the verifier's token, the viewer's forced sign refused.
        let entries = env.entries();
        for run in [&signed["run"], &vetoed["run"]] {
            let run = run.as_str().unwrap();
            let started = of_run(&entries, run, "pipeline.state.started");
            assert_eq!(started.len(), 1, "{run}");
            assert_eq!(
                started[0]["body"]["caller"]["token"],
                format!("planner-{transport}")
            );
            assert_eq!(started[0]["body"]["caller"]["role"], "planner");
        }
        let run = signed["run"].as_str().unwrap();
        let sig = of_run(&entries, run, "checkpoint.signed");
        assert_eq!(sig.len(), 1, "{sig:?}");
        assert_eq!(sig[0]["actor"]["role"], "verifier", "{}", sig[0]);
        assert_eq!(
            sig[0]["body"]["caller"]["token"],
            format!("verifier-{transport}")
        );
        assert_eq!(of_run(&entries, run, "pipeline.state.succeeded").len(), 1);
        let run = vetoed["run"].as_str().unwrap();
        let veto = of_run(&entries, run, "checkpoint.vetoed");
        assert_eq!(veto.len(), 1, "{veto:?}");
        assert_eq!(veto[0]["actor"]["role"], "verifier", "{}", veto[0]);
        assert_eq!(veto[0]["body"]["summary"], "vetoed over MCP");
        assert_eq!(of_run(&entries, run, "pipeline.state.failed").len(), 1);
        // The service veto over MCP: a decision.veto signed by the verifier's key for the
        // verifier's token.
        let seq = find(&steps, "decisions")["veto"].clone();
        let d = entries.iter().find(|e| e["seq"] == seq).unwrap();
        assert_eq!(
            (&d["kind"], &d["actor"]["role"], &d["body"]["violation"]),
            (
                &"decision.veto".into(),
                &"verifier".into(),
                &"runbookMissing".into()
            ),
            "{d}"
        );
        assert_eq!(
            d["body"]["caller"]["token"],
            format!("verifier-{transport}")
        );
        assert!(
            entries.iter().any(|e| e["kind"] == "access.denied"
                && e["body"]["token"] == format!("viewer-{transport}")
                && e["body"]["permission"] == "sign"),
            "the viewer's forced sign is not in the ledger"
        );
    }
    env.p.gantry(&["ledger", "verify"]).ok();
}
