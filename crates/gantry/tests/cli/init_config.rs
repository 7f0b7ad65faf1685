use std::fs;

use crate::{empty, project};

#[test]
fn init_writes_a_working_project() {
    let p = project();
    assert!(p.path().join("gantry.yaml").is_file());
    let ignore = fs::read_to_string(p.path().join(".gantry/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "keys/"), "{ignore}");
    assert!(ignore.lines().any(|l| l == "*.token"), "{ignore}");
    assert!(
        !ignore.contains("ledger.jsonl\n"),
        "the ledger must stay committable"
    );
    p.gantry(&["check"]).ok().says("OK");
    p.gantry(&["ledger", "verify"]).ok().says("OK");
    let roles = p.gantry(&["agent", "list", "--json"]).ok().json();
    let roles: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    for role in ["planner", "operator", "verifier"] {
        assert!(roles.contains(&role), "{roles:?}");
    }
}

#[test]
fn init_refuses_to_overwrite_without_force_and_keeps_the_ledger_with_it() {
    let p = project();
    fs::write(p.path().join("gantry.yaml"), "project: mine\n").unwrap();
    p.gantry(&["init"]).fails_with(2).says("--force");
    assert_eq!(
        fs::read_to_string(p.path().join("gantry.yaml")).unwrap(),
        "project: mine\n"
    );
    let before = p.ledger_lines();
    p.gantry(&["init", "--force"])
        .ok()
        .says("kept the existing ledger");
    let after = p.ledger_lines();
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "init --force must not rewrite history"
    );
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn config_errors_name_file_line_and_column_and_exit_2() {
    let p = empty();
    fs::write(
        p.path().join("gantry.yaml"),
        "project: shop\nagents:\n  planner: { id: PlanAgent }\nservices:\n  web:\n    listen: 127.0.0.1:8080\n    instancs: 2\n",
    )
    .unwrap();
    let run = p.gantry(&["check"]).fails_with(2);
    let err = run.stderr();
    assert!(err.contains("gantry.yaml"), "{err}");
    assert!(err.contains("instancs"), "{err}");
    assert!(err.contains('7'), "line 7 must be named: {err}");
}

#[test]
fn a_bad_duration_is_located() {
    let p = project();
    let text = fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    let (line_no, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("period:"))
        .expect("example has a probe period");
    let bad = text.replacen(line, &line.replacen("period:", "period: 5 parsecs #", 1), 1);
    fs::write(p.path().join("gantry.yaml"), bad).unwrap();
    let run = p.gantry(&["check"]).fails_with(2);
    assert!(
        run.stderr().contains(&format!("{}", line_no + 1)),
        "{}",
        run.stderr()
    );
}

#[test]
fn commands_outside_a_project_explain_what_to_do() {
    let p = empty();
    p.gantry(&["ledger", "verify"])
        .fails_with(2)
        .says("gantry init");
    p.gantry(&["check"]).fails_with(2).says("gantry init");
}

#[test]
fn replay_is_deterministic() {
    let p = project();
    p.append("planner", "plan.drafted", r#"{"steps":3}"#).ok();
    p.gantry(&["replay"]).ok();
    let first = fs::read(p.path().join(".gantry/state.json")).unwrap();
    fs::remove_file(p.path().join(".gantry/state.json")).unwrap();
    p.gantry(&["replay", "--json"]).ok();
    let second = fs::read(p.path().join(".gantry/state.json")).unwrap();
    assert_eq!(first, second);
    let state: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(state["kinds"]["plan.drafted"], 1);
    assert!(
        state["agents"]["planner"]["keys"][0]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
}

#[test]
fn show_filters_by_kind_role_and_limit() {
    let p = project();
    for i in 0..3 {
        p.gantry(&[
            "ledger",
            "append",
            "--as",
            "operator",
            "--kind",
            "ops.note",
            "--body",
            &format!(r#"{{"i":{i}}}"#),
        ])
        .ok();
    }
    let all = p
        .gantry(&["ledger", "show", "--json", "--kind", "ops."])
        .ok()
        .json();
    assert_eq!(all.as_array().unwrap().len(), 3);
    let last = p
        .gantry(&["ledger", "show", "--json", "--role", "operator", "-n", "1"])
        .ok()
        .json();
    assert_eq!(last[0]["body"]["i"], 2);
    let none = p
        .gantry(&[
            "ledger", "show", "--json", "--role", "verifier", "--kind", "ops.",
        ])
        .ok()
        .json();
    assert_eq!(none.as_array().unwrap().len(), 0);
    let recent = p
        .gantry(&[
            "ledger", "show", "--json", "--since", "1h", "--kind", "ops.",
        ])
        .ok()
        .json();
    assert_eq!(recent.as_array().unwrap().len(), 3);
    p.gantry(&["ledger", "show", "--since", "yesterday-ish"])
        .fails_with(2)
        .says("--since");
    p.gantry(&["ledger", "show"]).ok().says("ops.note");
}
