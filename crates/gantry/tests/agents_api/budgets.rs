//! Issue 14 scope 8: agent budgets per role (`access.budgets`), enforced by the real
//! `gantry serve` for tokens from `gantry token create`: the call after the limit is
//! refused (429, Retry-After, the reset time) and recorded, a restart keeps the count,
//! another role goes on, tokens reported over the day budget refuse the next call, an MCP
//! agent gets the same refusal, and `gantry status` shows each role's use.

use std::process::Command;

use chrono::{Timelike, Utc};
use serde_json::Value;

use crate::{BIN, Env, Reply, call, call_with, venv_tool};

/// The test config with custom role `agent` and budgets for three roles.
fn budgeted(config: String) -> String {
    let roles = "    deployer: { permissions: [read, deploy] }\n";
    assert!(config.contains(roles), "{config}");
    config.replace(
        roles,
        &format!(
            "{roles}    agent: {{ permissions: [read, pause] }}\n  budgets:\n    \
             deployer: {{ deploys_per_day: 1 }}\n    operator: {{ actions_per_hour: 2 }}\n    \
             agent: {{ tokens_per_day: 1000 }}\n"
        ),
    )
}

fn tomorrow_midnight() -> String {
    let day = Utc::now().date_naive() + chrono::Days::new(1);
    format!("{}T00:00:00Z", day.format("%Y-%m-%d"))
}

fn next_hour() -> String {
    let now = Utc::now();
    let top = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap()
        + chrono::Duration::hours(1);
    top.format("%Y-%m-%dT%H:00:00Z").to_string()
}

/// Asserts `reply` is the budget refusal for `budget` at `used` of `limit`.
#[track_caller]
fn over_budget(reply: &Reply, role: &str, budget: &str, used: u64, limit: u64, resets: &str) {
    assert_eq!(reply.status, 429, "{}", reply.text);
    let e = &reply.json()["error"];
    assert_eq!(e["code"], "budget_exceeded", "{e}");
    assert_eq!(
        (&e["role"], &e["budget"], &e["used"], &e["limit"]),
        (
            &Value::from(role),
            &Value::from(budget),
            &Value::from(used),
            &Value::from(limit)
        ),
        "{e}"
    );
    assert_eq!(e["resets_at"], resets, "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(budget) && message.contains(resets),
        "{message}"
    );
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("access.budgets.{role}.{budget}")),
        "{e}"
    );
    let retry: u64 = reply
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {}", reply.text))
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    assert_eq!(e["retry_after"], retry, "{e}");
}

fn deploy(env: &Env, token: &str, version: &str) -> Reply {
    call(
        env.api(),
        "POST",
        "/v1/services/web/deploy",
        Some(token),
        Some(&format!(r#"{{"version": "{version}"}}"#)),
    )
}

fn wait_done(env: &Env, token: &str, id: &str) {
    env.wait_for(60, &format!("deployment {id} to succeed"), || {
        let r = call(
            env.api(),
            "GET",
            &format!("/v1/deployments/{id}"),
            Some(token),
            None,
        );
        r.status == 200 && r.json()["phase"] == "succeeded"
    });
}

fn exceeded(env: &Env) -> Vec<Value> {
    env.entries()
        .into_iter()
        .filter(|e| e["kind"] == "access.budget.exceeded")
        .collect()
}

#[test]
fn issue14_the_call_after_the_limit_is_refused_until_the_reset_and_a_restart_keeps_the_count() {
    let mut env = Env::start_with(budgeted);
    let ci = env.token("deployer", "ci", None);
    let ops = env.token("operator", "ops", None);
    let hour = Utc::now().hour();

    // The deployer's one deploy of the day goes through; the next is refused.
    let first = deploy(&env, &ci, "v1");
    assert_eq!(first.status, 200, "{}", first.text);
    wait_done(&env, &ci, first.json()["id"].as_str().unwrap());
    let refused = deploy(&env, &ci, "v2");
    over_budget(
        &refused,
        "deployer",
        "deploys_per_day",
        1,
        1,
        &tomorrow_midnight(),
    );
    let recorded = exceeded(&env);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let e = &recorded[0];
    assert_eq!(e["actor"]["role"], "gantry");
    for (k, v) in [
        ("role", Value::from("deployer")),
        ("token", "ci".into()),
        ("budget", "deploys_per_day".into()),
        ("limit", 1.into()),
        ("used", 1.into()),
        ("resets_at", tomorrow_midnight().into()),
        ("route", "POST /v1/services/{service}/deploy".into()),
    ] {
        assert_eq!(e["body"][k], v, "{k}: {e}");
    }

    // Another role is not affected: the operator deploys (action 1 of 2) and aborts (2).
    let other = deploy(&env, &ops, "v2");
    assert_eq!(other.status, 200, "{}", other.text);
    let abort = call(
        env.api(),
        "POST",
        "/v1/services/web/abort",
        Some(&ops),
        None,
    );
    assert_ne!(abort.status, 429, "{}", abort.text);
    let pause = call(
        env.api(),
        "POST",
        "/v1/services/web/pause",
        Some(&ops),
        None,
    );
    let same_hour = Utc::now().hour() == hour;
    if same_hour {
        over_budget(&pause, "operator", "actions_per_hour", 2, 2, &next_hour());
    }
    // Reads are never charged; the emergency stop is the brake and never refused.
    let ps = call(env.api(), "GET", "/v1/ps", Some(&ops), None);
    assert_eq!(ps.status, 200, "{}", ps.text);

    // `gantry status` shows each role's use, as Markdown and as JSON.
    let md = env.p.gantry(&["status"]).stdout();
    assert!(
        md.contains("## Agent budgets")
            && md.contains("- deployer: 1 of 1 deploys today, resets 00:00 UTC (spent)")
            && md.contains("agent: 0 of 1000 agent tokens today, resets 00:00 UTC"),
        "{md}"
    );
    if same_hour {
        assert!(
            md.contains("- operator: 2 of 2 actions this hour, resets"),
            "{md}"
        );
    }
    let json = env.p.gantry(&["status", "--json"]).json();
    let deployer = json["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["role"] == "deployer")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&deployer["budget"], &deployer["used"], &deployer["limit"]),
        (&"deploys_per_day".into(), &1.into(), &1.into()),
        "{json}"
    );

    // The CLI says the same, and exits 7 (refused).
    let cli = env
        .p
        .command(&["deploy", "web", "--version", "v2"])
        .env("GANTRY_TOKEN", &ci)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert_eq!(cli.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("deploys_per_day") && stderr.contains("retry after"),
        "{stderr}"
    );

    // A restart counts from the ledger: still refused.
    env.serve.stop();
    env.serve.restart(&env.p);
    let again = deploy(&env, &ci, "v2");
    over_budget(
        &again,
        "deployer",
        "deploys_per_day",
        1,
        1,
        &tomorrow_midnight(),
    );
    if same_hour && Utc::now().hour() == hour {
        let pause = call(
            env.api(),
            "POST",
            "/v1/services/web/pause",
            Some(&ops),
            None,
        );
        over_budget(&pause, "operator", "actions_per_hour", 2, 2, &next_hour());
        if let Some(result) = mcp_call(&env, &ops, "pause", r#"{"service": "web"}"#, None) {
            mcp_refused(&result, "actions_per_hour");
        }
    }
    let stop = call(
        env.api(),
        "POST",
        "/v1/control/emergency-stop",
        Some(&ops),
        None,
    );
    assert_eq!(stop.status, 200, "{}", stop.text);
}

/// One MCP tool call through `gantry mcp` (stdio) with the official SDK: the result's
/// `is_error` and structured content; `None` (after saying why) without the SDK.
fn mcp_call(env: &Env, token: &str, tool: &str, args: &str, meta: Option<&str>) -> Option<Value> {
    let python = venv_tool("python3", "import mcp")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/agents_api/mcp_budget.py"
    );
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(["--gantry", BIN, "--project"])
        .arg(env.p.path())
        .args(["--token", token, "--tool", tool, "--args", args]);
    if let Some(m) = meta {
        cmd.args(["--meta", m]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_str(stdout.trim()).unwrap())
}

/// An MCP agent over its budget gets the API's refusal as the tool's structured error.
#[track_caller]
fn mcp_refused(result: &Value, budget: &str) {
    assert_eq!(result["is_error"], true, "{result}");
    let e = &result["structured"]["error"];
    assert_eq!(
        (&e["code"], &e["budget"], &e["status"]),
        (&"budget_exceeded".into(), &budget.into(), &429.into()),
        "{result}"
    );
    assert!(
        e["resets_at"].as_str().is_some() && e["retry_after"].as_u64().is_some(),
        "{e}"
    );
}

#[test]
fn issue14_tokens_reported_over_the_day_budget_refuse_the_next_call() {
    let env = Env::start_with(budgeted);
    let bot = env.token("agent", "bot", None);
    let ops = env.token("operator", "ops", None);
    let usage = |token: &str, tokens: &str| {
        call(
            env.api(),
            "POST",
            "/v1/agents/usage",
            Some(token),
            Some(&format!(r#"{{"tokens": {tokens}}}"#)),
        )
    };
    let pause = |headers: &[(&str, &str)]| {
        call_with(
            env.api(),
            "POST",
            "/v1/services/web/pause",
            Some(&bot),
            None,
            headers,
        )
    };

    let r = usage(&bot, "600");
    assert_eq!(r.status, 200, "{}", r.text);
    let day = &r.json()["tokens_per_day"];
    assert_eq!(
        (&day["used"], &day["limit"]),
        (&600.into(), &1000.into()),
        "{}",
        r.text
    );
    assert_eq!(day["resets_at"], tomorrow_midnight());

    // Within the budget: the call goes through (and fails for what it is: nothing to
    // pause); the 500 tokens it reports count from the next call on.
    let r = pause(&[("X-Gantry-Agent-Tokens", "500")]);
    assert!(![429, 401, 403].contains(&r.status), "{}", r.text);
    let r = pause(&[]);
    over_budget(
        &r,
        "agent",
        "tokens_per_day",
        1100,
        1000,
        &tomorrow_midnight(),
    );

    // An MCP agent reports in the tool call's `_meta`; refused all the same, its 7 count.
    let by_mcp = mcp_call(
        &env,
        &bot,
        "pause",
        r#"{"service": "web"}"#,
        Some(r#"{"gantry/agent_tokens": 7}"#),
    );
    if let Some(result) = &by_mcp {
        mcp_refused(result, "tokens_per_day");
    }
    let mcp_tokens = if by_mcp.is_some() { 7 } else { 0 };

    // Reporting is never refused; a bad report is a 400 that records nothing.
    let r = usage(&bot, "5");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["tokens_per_day"]["used"], 1105 + mcp_tokens);
    for bad in [
        "0",
        "-1",
        "\"many\"",
        "1000000000001",
        "9223372036854775808",
    ] {
        let r = usage(&bot, bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = pause(&[("X-Gantry-Agent-Tokens", "lots")]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("X-Gantry-Agent-Tokens") || r.text.contains("x-gantry-agent-tokens"),
        "{}",
        r.text
    );

    // Another role's calls go on; its report has no budget to answer with.
    let r = call(
        env.api(),
        "POST",
        "/v1/services/web/pause",
        Some(&ops),
        None,
    );
    assert_ne!(r.status, 429, "{}", r.text);
    let r = usage(&ops, "10");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["tokens_per_day"], Value::Null);

    let reported: Vec<(Value, Value, Value)> = env
        .entries()
        .into_iter()
        .filter(|e| e["kind"] == "access.usage.reported")
        .map(|e| {
            assert_eq!(e["actor"]["role"], "gantry", "{e}");
            (
                e["body"]["role"].clone(),
                e["body"]["tokens"].clone(),
                e["body"]["via"].clone(),
            )
        })
        .collect();
    let mut want = vec![("agent", 600, "api"), ("agent", 500, "header")];
    if mcp_tokens > 0 {
        want.push(("agent", mcp_tokens, "header"));
    }
    want.extend([("agent", 5, "api"), ("operator", 10, "api")]);
    let want: Vec<(Value, Value, Value)> = want
        .into_iter()
        .map(|(r, t, v)| (r.into(), t.into(), v.into()))
        .collect();
    assert_eq!(reported, want);
    let refused = exceeded(&env);
    assert_eq!(
        refused.len(),
        1 + usize::from(mcp_tokens > 0),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .all(|e| e["body"]["budget"] == "tokens_per_day" && e["body"]["token"] == "bot"),
        "{refused:?}"
    );
}

/// The operator's agent answers a pipeline checkpoint with `tokens_used`; the run (its own
/// process) records them, and the running control plane counts them.
fn checkpointing_operator(config: String) -> String {
    let agent = "  operator: { id: OperationsBoardAgent }\n";
    assert!(config.contains(agent), "{config}");
    let roles = "    deployer: { permissions: [read, deploy] }\n";
    config
        .replace(
            agent,
            r#"  operator:
    id: OperationsBoardAgent
    command: "echo '{\"decision\": \"approve\", \"summary\": \"looks fine\", \"tokens_used\": 1500}'"
"#,
        )
        .replace(
            roles,
            &format!("{roles}  budgets:\n    operator: {{ tokens_per_day: 1000 }}\n"),
        )
        // The base config has `pipelines:` already: add this one to it.
        .replace(
            "pipelines:\n",
            "pipelines:\n  review:\n    stages:\n      - name: check\n        steps: [ { run: 'true' } ]\n        checkpoint: { role: operator }\n",
        )
}

#[test]
fn issue14_tokens_a_pipeline_agent_answers_with_count_against_its_role() {
    let env = Env::start_with(checkpointing_operator);
    let ops = env.token("operator", "ops", None);
    let pause = || {
        call(
            env.api(),
            "POST",
            "/v1/services/web/pause",
            Some(&ops),
            None,
        )
    };
    let r = pause();
    assert!(![429, 401, 403].contains(&r.status), "{}", r.text);
    env.p.gantry(&["run", "review"]).ok();
    let signed: Vec<Value> = env
        .entries()
        .into_iter()
        .filter(|e| e["kind"] == "checkpoint.signed")
        .collect();
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(signed[0]["body"]["tokens_used"], 1500);
    over_budget(
        &pause(),
        "operator",
        "tokens_per_day",
        1500,
        1000,
        &tomorrow_midnight(),
    );
    let md = env.p.gantry(&["status"]).stdout();
    assert!(
        md.contains("- operator: 1500 of 1000 agent tokens today, resets 00:00 UTC (spent)"),
        "{md}"
    );
}
