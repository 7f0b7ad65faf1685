//! Checkpoints: manual signature from a second process, wrong key refused, external agent
//! veto and malformed answers, missing artefacts.

use std::time::Duration;

use crate::{last_run, project, project_with, verify};

const MANUAL: &str = "
  p:
    stages:
      - name: build
        steps: [ { run: 'true' } ]
        checkpoint: { role: verifier, summary: required }
      - name: ship
        steps: [ { run: touch shipped } ]
";

#[test]
fn manual_checkpoint_waits_for_gantry_sign_and_refuses_a_wrong_key() {
    let p = project_with(&[("verifier", "manual: true")], MANUAL);
    let child = p.spawn(&["run", "p"]);
    let req = p.wait_for_entry(Duration::from_secs(20), |e| {
        e["kind"] == "checkpoint.requested"
    });
    let run = req["body"]["run"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !p.path().join("shipped").exists(),
        "the next stage must wait for the signature"
    );

    // Status for polling agents.
    let show = p.gantry(&["--json", "runs", "show", &run]).ok().json();
    assert_eq!(show["checkpoints"][0]["status"], "waiting");

    // The planner's key offered as the verifier's: refused and recorded.
    let planner_key = std::fs::read_to_string(p.path().join(".gantry/keys/planner.pem")).unwrap();
    let out = p
        .command(&[
            "sign",
            &run,
            "build",
            "--as",
            "verifier",
            "--summary",
            "looks fine",
        ])
        .env("GANTRY_KEY_VERIFIER", planner_key)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused"));
    assert_eq!(p.entries_of("checkpoint.refused").len(), 1);
    assert!(!p.path().join("shipped").exists());

    // A summary is required here.
    p.gantry(&["sign", &run, "build", "--as", "verifier"])
        .fails_with(2)
        .says("requires --summary");
    // The wrong role.
    p.gantry(&["sign", &run, "build", "--as", "planner", "--summary", "x"])
        .fails_with(2);

    p.gantry(&[
        "sign",
        &run,
        "build",
        "--as",
        "verifier",
        "--summary",
        "all green",
    ])
    .ok();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(p.path().join("shipped").exists());
    let signed = p.entries_of("checkpoint.signed");
    assert_eq!(signed[0]["actor"]["role"], "verifier");
    assert_eq!(signed[0]["body"]["summary"], "all green");
    let runs = p.gantry(&["runs"]).ok().stdout();
    assert!(runs.contains("signed ReviewAgent"), "{runs}");
    verify(&p);
}

#[test]
fn external_agent_veto_stops_the_run() {
    let p = project_with(
        &[(
            "verifier",
            "command: 'cat > task.json; echo \"{\\\"decision\\\": \\\"veto\\\", \\\"summary\\\": \\\"not today\\\", \\\"tokens_used\\\": 7}\"'",
        )],
        "
  p:
    stages:
      - name: build
        steps: [ { run: 'mkdir -p dist && echo v2 > dist/app', artefacts: [dist/app] } ]
        checkpoint: { role: verifier, requires: [dist/app] }
      - { name: ship, steps: [ { run: touch shipped } ] }
      - { name: rollback, if: failure(), steps: [ { run: touch rolled-back } ] }
",
    );
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says("vetoed: not today");
    assert!(!p.path().join("shipped").exists());
    assert!(p.path().join("rolled-back").exists());
    let task: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("task.json")).unwrap())
            .unwrap();
    assert_eq!(task["stage"], "build");
    assert_eq!(task["run"], last_run(&p).as_str());
    assert_eq!(task["artefacts"][0]["path"], "dist/app");
    let veto = p.entries_of("checkpoint.vetoed");
    assert_eq!(veto[0]["actor"]["role"], "verifier");
    assert_eq!(veto[0]["body"]["tokens_used"], 7);
    verify(&p);
}

#[test]
fn malformed_agent_answer_is_not_an_approval() {
    let p = project_with(
        &[("verifier", "command: 'echo LGTM'")],
        "
  p:
    stages:
      - { name: build, steps: [ { run: 'true' } ], checkpoint: { role: verifier } }
      - { name: ship, steps: [ { run: touch shipped } ] }
",
    );
    p.gantry(&["run", "p"]).fails_with(1).says("not JSON");
    assert!(!p.path().join("shipped").exists());
    assert!(p.entries_of("checkpoint.signed").is_empty());
}

#[test]
fn missing_artefacts_fail_fast_naming_each() {
    let p = project(
        "
  p:
    stages:
      - name: build
        steps: [ { run: 'true' } ]
        checkpoint: { role: planner, requires: [dist/a.tar, dist/b.tar] }
",
    );
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says("checkpoint 'build' (planner): missing required artefacts: dist/a.tar, dist/b.tar");
    assert!(
        p.entries_of("checkpoint.requested").is_empty(),
        "fails before asking"
    );
}

#[test]
fn built_in_agents_sign_the_example_pipeline() {
    let p = crate::project("");
    // The example gantry init writes, unchanged.
    p.gantry(&["init", "--force", "--project", "test"]).ok();
    p.gantry(&["run", "release"]).ok();
    let roles: Vec<String> = p
        .entries_of("checkpoint.signed")
        .iter()
        .map(|e| e["actor"]["role"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roles, ["planner", "operator", "verifier"]);
    verify(&p);
}

#[test]
fn manual_checkpoint_not_signed_in_time_fails_the_run() {
    let p = project_with(
        &[("verifier", "manual: true")],
        "
  p:
    stages:
      - name: build
        steps: [ { run: 'true' } ]
        checkpoint: { role: verifier, timeout: 1s }
      - { name: ship, steps: [ { run: touch shipped } ] }
      - { name: rollback, if: failure(), steps: [ { run: touch rolled-back } ] }
",
    );
    let start = std::time::Instant::now();
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says("checkpoint 'build' (verifier): no signature within 1s");
    assert!(start.elapsed() >= Duration::from_secs(1), "it waited");
    assert!(!p.path().join("shipped").exists());
    assert!(p.path().join("rolled-back").exists());
    let run = last_run(&p);
    let timed_out = p.entries_of("checkpoint.timed_out");
    assert_eq!(timed_out.len(), 1);
    assert_eq!(timed_out[0]["body"]["stage"], "build");
    assert_eq!(timed_out[0]["body"]["run"], run.as_str());
    let failed = p.entries_of("pipeline.state.failed");
    assert!(
        failed[0]["body"]["reason"]
            .as_str()
            .unwrap()
            .contains("checkpoint 'build' (verifier): no signature within 1s"),
        "{failed:?}"
    );
    let show = p.gantry(&["--json", "runs", "show", &run]).ok().json();
    assert_eq!(show["checkpoints"][0]["status"], "timed_out");
    // A signature that comes too late is turned away, and nothing is recorded for it.
    p.gantry(&["sign", &run, "build", "--as", "verifier"])
        .fails_with(1)
        .says("timed out");
    assert!(p.entries_of("checkpoint.signed").is_empty());
    verify(&p);
}
