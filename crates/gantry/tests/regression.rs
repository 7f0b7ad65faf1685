//! Regression tests, each named for the issue and the hole it guards.

use std::process::Command;
use std::time::Duration;

use gantry_test_support::TestProject;
use gantry_test_support::pipeline::config;
use gantry_test_support::tmpfs::Tmpfs;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_gantry");

fn project_with(agents: &[(&str, &str)], pipelines: &str) -> TestProject {
    let p = TestProject::init(BIN);
    p.write_config(&config(agents, pipelines));
    p
}

const MANUAL: &str = "
  p:
    stages:
      - name: build
        steps: [ { run: 'true' } ]
        checkpoint: { role: verifier }
      - name: ship
        steps: [ { run: touch shipped } ]
";

/// Issue 7: a planner's properly signed `checkpoint.signed` for a checkpoint that belongs to
/// the verifier made the run go on, `runs show` name the planner as signer, and `ledger
/// verify` say OK.
#[test]
fn issue7_forged_checkpoint_approval_does_not_advance_the_run() {
    let p = project_with(&[("verifier", "manual: true")], MANUAL);
    let child = p.spawn(&["run", "p"]);
    let req = p.wait_for_entry(Duration::from_secs(20), |e| {
        e["kind"] == "checkpoint.requested"
    });
    let run = req["body"]["run"].as_str().unwrap().to_string();
    let decision = json!({"run": run, "stage": "build", "summary": "forged"});

    // Through the CLI the kind is refused outright.
    p.append("planner", "checkpoint.signed", decision.to_string())
        .fails_with(2)
        .says("reserved");
    // Written with the planner's own key, it is in the ledger and changes nothing.
    let forged = p.forge("planner", "PlanAgent", "checkpoint.signed", decision);
    std::thread::sleep(Duration::from_millis(800)); // several of the watcher's polls
    assert!(
        !p.path().join("shipped").exists(),
        "the forged approval let the run go on"
    );
    let show = p.gantry(&["--json", "runs", "show", &run]).ok().json();
    assert_eq!(show["checkpoints"][0]["status"], "waiting");
    assert_eq!(show["checkpoints"][0]["signer"], serde_json::Value::Null);
    assert_eq!(show["ignored"][0]["seq"], forged.seq);
    let text = p.gantry(&["runs", "show", &run]).ok().stdout();
    assert!(
        text.contains(&format!(
            "ignored: seq {} checkpoint.signed signed by planner/PlanAgent",
            forged.seq
        )),
        "{text}"
    );

    // `ledger verify` names the entry: the chain is intact, the entry unauthorised.
    let verify = p.gantry(&["ledger", "verify"]).ok().stdout();
    assert!(
        verify.contains(&format!("warning: unauthorised entry at seq {} (checkpoint.signed, signed by planner/PlanAgent)", forged.seq))
            && verify.contains("only the role the checkpoint names (verifier) may decide it, not planner"),
        "{verify}"
    );
    let report = p.gantry(&["--json", "ledger", "verify"]).ok().json();
    assert_eq!(report["unauthorised"][0]["seq"], forged.seq);
    assert_eq!(report["unauthorised"][0]["rule"], "checkpoint.signed");

    // The role the checkpoint names still decides it.
    p.gantry(&["sign", &run, "build", "--as", "verifier", "--summary", "ok"])
        .ok();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(p.path().join("shipped").exists());
    let runs = p.gantry(&["runs"]).ok().stdout();
    assert!(
        runs.contains("signed ReviewAgent") && !runs.contains("PlanAgent"),
        "{runs}"
    );
}

/// Issue 7: `ledger append` wrote any kind but `ledger.*` and `agent.*`, so an agent could
/// write the entries gantry acts on.
#[test]
fn issue7_ledger_append_writes_only_kinds_outside_gantrys_namespaces() {
    let p = TestProject::init(BIN);
    let before = p.ledger_lines().len();
    for kind in [
        "checkpoint.signed",
        "control.emergency_stop",
        "step.state.succeeded",
        "deployment.state.succeeded",
        "status.changed",
        "decision.veto",
        "ledger.sealed",
        "agent.registered",
    ] {
        p.append("planner", kind, "{}")
            .fails_with(2)
            .says(&format!("kind '{kind}' is reserved"));
    }
    let out = p
        .command(&["ledger", "append", "--as", "operator", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            let mut stdin = c.stdin.take().unwrap();
            writeln!(stdin, r#"{{"kind": "plan.drafted", "body": {{}}}}"#)?;
            writeln!(stdin, r#"{{"kind": "traffic.shifted", "body": {{}}}}"#)?;
            drop(stdin);
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("stdin line 2: kind 'traffic.shifted' is reserved")
    );
    assert_eq!(
        p.ledger_lines().len(),
        before,
        "nothing of a refused batch is written"
    );
    p.append("planner", "plan.drafted", r#"{"release": "v2"}"#)
        .ok();
    p.append("planner", "x.note", "{}").ok();
}

const ONE_STEP: &str = "
  p:
    stages:
      - name: build
        steps: [ { name: hello, run: echo hello } ]
";

/// Issue 7: a `step.state.succeeded` with `"log": "/etc/shadow"` made `gantry logs` print
/// /etc/shadow. Signed by the operator (who may write step entries), the path is still
/// refused; signed by the planner, the whole entry is ignored.
#[test]
fn issue7_forged_log_path_is_refused() {
    let p = project_with(&[], ONE_STEP);
    p.gantry(&["run", "p"]).ok();
    let started = p.entries_of("pipeline.state.started");
    let run = started[0]["body"]["run"].as_str().unwrap().to_string();
    std::fs::write(p.path().join("outside.txt"), "not for you\n").unwrap();
    let escape = format!(".gantry/runs/{run}/../../../outside.txt");
    let mut seqs = Vec::new();
    for (i, log) in ["/etc/shadow", escape.as_str()].into_iter().enumerate() {
        let body = json!({"run": run, "stage": "build", "step": 10 + i, "name": format!("evil{i}"),
                          "exit_code": 0, "log": log});
        seqs.push(
            p.forge(
                "operator",
                "OperationsBoardAgent",
                "step.state.succeeded",
                body,
            )
            .seq,
        );
    }
    // A link inside the run's directory that leads out.
    let link = format!(".gantry/runs/{run}/build/99-link.log");
    std::os::unix::fs::symlink(p.path().join("outside.txt"), p.path().join(&link)).unwrap();
    let body = json!({"run": run, "stage": "build", "step": 12, "name": "evil2", "exit_code": 0, "log": link});
    seqs.push(
        p.forge(
            "operator",
            "OperationsBoardAgent",
            "step.state.succeeded",
            body,
        )
        .seq,
    );

    let out = p.gantry(&["logs", &run]).fails_with(1);
    assert!(
        out.stdout().contains("hello"),
        "the real log is still shown"
    );
    assert!(!out.stdout().contains("not for you") && !out.stdout().contains("root:"));
    let err = out.stderr();
    for (i, seq) in seqs.iter().enumerate() {
        assert!(
            err.contains(&format!(
                "refused the log path of step build/evil{i} (seq {seq})"
            )),
            "{err}"
        );
    }
    assert!(err.contains("is not inside the run's directory"), "{err}");
    assert!(err.contains("outside the run's directory"), "{err}");
    p.gantry(&["logs", &run, "evil0"])
        .fails_with(1)
        .says("/etc/shadow");

    // The planner may not write step entries at all.
    let body =
        json!({"run": run, "stage": "build", "step": 20, "name": "planted", "log": "/etc/passwd"});
    let planted = p
        .forge("planner", "PlanAgent", "step.state.succeeded", body)
        .seq;
    p.gantry(&["logs", &run, "planted"])
        .fails_with(2)
        .says("no step 'planted'");
    let verify = p.gantry(&["ledger", "verify"]).ok().stdout();
    assert!(
        verify.contains(&format!("unauthorised entry at seq {planted}")),
        "{verify}"
    );
}

/// Issue 7: read-only commands failed when they could not write (`gantry runs` records a
/// run whose process is gone as interrupted). On a read-only copy they show and warn.
#[test]
fn issue7_read_only_commands_work_on_a_read_only_copy() {
    let p = project_with(
        &[],
        "
  p:
    stages:
      - name: build
        steps: [ { name: wait, run: sleep 30 } ]
",
    );
    let mut child = p.spawn(&["run", "p"]);
    p.wait_for_entry(Duration::from_secs(20), |e| {
        e["kind"] == "step.state.started"
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let run = p.entries_of("pipeline.state.started")[0]["body"]["run"]
        .as_str()
        .unwrap()
        .to_string();

    let mount = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(mount.path(), "64m") else {
        p.gantry(&["runs"]).ok(); // stop the leftover step
        return;
    };
    let copy = fs.path().join("project");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(p.path())
        .arg(&copy)
        .status()
        .unwrap();
    assert!(cp.success());
    fs.remount_read_only();
    let before = std::fs::read(copy.join(".gantry/ledger.jsonl")).unwrap();

    let in_copy = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["-C"]).arg(&copy).args(args);
        cmd.env_remove("GANTRY_TOKEN").output().unwrap()
    };
    let runs = in_copy(&["runs"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&runs.stdout),
        String::from_utf8_lossy(&runs.stderr),
    );
    assert!(runs.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "warning: run {run} is interrupted, but recording that failed"
        )),
        "{stderr}"
    );
    for args in [
        vec!["runs", "show", run.as_str()],
        vec!["ledger", "verify"],
        vec!["ledger", "show"],
    ] {
        let out = in_copy(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read(copy.join(".gantry/ledger.jsonl")).unwrap(),
        before
    );
    drop(fs);
    // The writable original records the finding (and stops the leftover step).
    p.gantry(&["runs"]).ok();
    assert_eq!(p.entries_of("pipeline.state.interrupted").len(), 1);
}
