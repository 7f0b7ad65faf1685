//! Stage order by `needs`, parallelism bounded by --jobs, `if:` conditions.

use std::time::Instant;

use crate::{kinds, last_run, project, verify};

const PARALLEL: &str = "
  p:
    stages:
      - { name: a, needs: [], steps: [ { run: sleep 1 } ] }
      - { name: b, needs: [], steps: [ { run: sleep 1 } ] }
      - { name: c, needs: [a, b], steps: [ { run: echo done } ] }
";

fn seq_of(p: &gantry_test_support::TestProject, kind: &str, stage: &str) -> u64 {
    p.entries()
        .iter()
        .find(|e| e["kind"] == kind && e["body"]["stage"] == stage)
        .unwrap_or_else(|| panic!("no {kind} for {stage}"))["seq"]
        .as_u64()
        .unwrap()
}

#[test]
fn independent_stages_overlap_and_needs_wait() {
    let p = project(PARALLEL);
    let start = Instant::now();
    p.gantry(&["run", "p", "--jobs", "2"]).ok();
    let took = start.elapsed().as_secs_f64();
    assert!(took < 1.8, "two 1s sleeps should overlap, took {took:.2}s");
    let c_start = seq_of(&p, "stage.state.started", "c");
    assert!(c_start > seq_of(&p, "stage.state.succeeded", "a"));
    assert!(c_start > seq_of(&p, "stage.state.succeeded", "b"));
    verify(&p);
}

#[test]
fn jobs_bounds_parallel_stages() {
    let p = project(PARALLEL);
    let start = Instant::now();
    p.gantry(&["run", "p", "--jobs", "1"]).ok();
    assert!(
        start.elapsed().as_secs_f64() >= 2.0,
        "--jobs 1 runs one stage at a time"
    );
}

#[test]
fn failure_runs_rollback_and_skips_the_rest() {
    let p = project(
        "
  p:
    stages:
      - { name: build, steps: [ { run: exit 3 }, { name: cleanup, run: touch cleaned, if: always() }, { name: never, run: touch never } ] }
      - { name: deploy, steps: [ { run: touch deployed } ] }
      - { name: rollback, if: failure(), steps: [ { run: touch rolled-back } ] }
      - { name: status, if: always(), steps: [ { run: touch status } ] }
",
    );
    p.gantry(&["run", "p"]).fails_with(1).says("exit code 3");
    for (file, exists) in [
        ("cleaned", true),
        ("never", false),
        ("deployed", false),
        ("rolled-back", true),
        ("status", true),
    ] {
        assert_eq!(p.path().join(file).exists(), exists, "{file}");
    }
    let run = last_run(&p);
    let k = kinds(&p, &run);
    assert!(k.contains(&"stage.state.skipped".to_string()));
    assert_eq!(k.last().unwrap(), "pipeline.state.failed");
    verify(&p);
}

#[test]
fn success_skips_failure_stage() {
    let p = project(
        "
  p:
    stages:
      - { name: ok, steps: [ { run: 'true' } ] }
      - { name: rollback, if: failure(), steps: [ { run: touch rolled-back } ] }
",
    );
    p.gantry(&["run", "p"]).ok();
    assert!(!p.path().join("rolled-back").exists());
}

#[test]
fn cycle_is_a_config_error() {
    let p = project(
        "
  p:
    stages:
      - { name: a, needs: [b], steps: [ { run: 'true' } ] }
      - { name: b, needs: [a], steps: [ { run: 'true' } ] }
",
    );
    p.gantry(&["run", "p"]).fails_with(2).says("cycle");
}
