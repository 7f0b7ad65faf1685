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
