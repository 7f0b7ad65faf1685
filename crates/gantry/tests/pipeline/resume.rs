//! A run whose gantry process is killed shows as interrupted (also after replay) and can
//! be resumed from the first stage that did not complete.

use std::time::Duration;

use crate::{project, verify};

#[test]
fn sigkill_then_interrupted_then_resume_completes() {
    let p = project(
        "
  p:
    stages:
      - { name: first, steps: [ { run: 'echo x >> first-ran' } ] }
      - { name: second, steps: [ { run: 'test -f resumed || sleep 30' } ] }
      - { name: third, steps: [ { run: touch third } ] }
",
    );
    let mut child = p.spawn(&["run", "p"]);
    let started = p.wait_for_entry(Duration::from_secs(20), |e| {
        e["kind"] == "step.state.started" && e["body"]["stage"] == "second"
    });
    let run = started["body"]["run"].as_str().unwrap().to_string();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let runs = p.gantry(&["--json", "runs"]).ok().json();
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
    let interrupted = p.entries_of("pipeline.state.interrupted");
    assert_eq!(
        interrupted[0]["body"]["killed_process_groups"], 1,
        "the orphaned step is stopped"
    );
    // The finding is recorded, so a pure replay agrees.
    p.gantry(&["replay"]).ok();
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.path().join(".gantry/state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["runs"]["runs"][&run]["status"], "interrupted");

    std::fs::write(p.path().join("resumed"), "").unwrap();
    p.gantry(&["run", "--resume", &run]).ok().says("resuming");
    assert!(p.path().join("third").exists());
    assert_eq!(
        std::fs::read_to_string(p.path().join("first-ran")).unwrap(),
        "x\n",
        "first stage not rerun"
    );
    let show = p.gantry(&["--json", "runs", "show", &run]).ok().json();
    assert_eq!(show["status"], "succeeded");
    assert_eq!(show["attempts"], 2);
    p.gantry(&["run", "--resume", &run])
        .fails_with(2)
        .says("already succeeded");
    verify(&p);
}

const FLAKY: &str = "
  p:
    stages:
      - { name: first, steps: [ { run: 'echo x >> first-ran' } ] }
      - { name: second, steps: [ { run: test -f fixed } ] }
";

#[test]
fn resume_refuses_a_changed_pipeline_unless_forced() {
    let p = project(FLAKY);
    p.gantry(&["run", "p"]).fails_with(1);
    let run = crate::last_run(&p);
    let recorded = p.entries_of("pipeline.state.started")[0]["body"]["config_sha256"]
        .as_str()
        .expect("the definition's hash is recorded")
        .to_string();
    assert_eq!(recorded.len(), 64);

    // Formatting and comments are not the definition: the run resumes (and fails again).
    let text = std::fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    p.write_config(&format!("# reviewed\n{text}"));
    p.gantry(&["run", "--resume", &run])
        .fails_with(1)
        .says("exit code 1");

    // A changed step is: refused with exit 2, and nothing is recorded or run.
    p.write_config(&text.replace("test -f fixed", "touch fixed"));
    let before = p.entries().len();
    p.gantry(&["run", "--resume", &run])
        .fails_with(2)
        .says("started with another definition of pipeline 'p'")
        .says("--force");
    assert_eq!(
        p.entries().len(),
        before,
        "a refused resume records nothing"
    );
    assert!(!p.path().join("fixed").exists());

    p.gantry(&["run", "--resume", &run, "--force"]).ok();
    assert!(p.path().join("fixed").exists());
    let resumed = p.entries_of("pipeline.state.resumed");
    let now = resumed.last().unwrap()["body"]["config_sha256"]
        .as_str()
        .unwrap();
    assert_ne!(
        now, recorded,
        "the resumption records the definition it ran"
    );
    assert_eq!(
        std::fs::read_to_string(p.path().join("first-ran")).unwrap(),
        "x\n"
    );
    verify(&p);
}

/// A run recorded with a pid that is now some other process (its start time differs) is
/// interrupted, not running; the same pid with its true start time stays running.
#[test]
fn a_reused_pid_is_not_the_run() {
    let p = project(FLAKY);
    let mut other = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = other.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start: u64 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (run, recorded_start) in [("r-reused", start + 1), ("r-live", start)] {
        let body = serde_json::json!({"run": run, "pipeline": "p", "pid": pid,
            "pid_start": recorded_start, "host": host.trim()});
        // `ledger append` refuses gantry's own kinds; written with the operator's key.
        p.forge(
            "operator",
            "OperationsBoardAgent",
            "pipeline.state.started",
            body,
        );
    }
    let runs = p.gantry(&["--json", "runs"]).ok().json();
    let status = |id: &str| {
        runs.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("r-reused"), "interrupted", "{runs}");
    assert_eq!(status("r-live"), "running", "{runs}");
    let _ = other.kill();
    let _ = other.wait();
}
