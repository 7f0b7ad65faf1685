//! Budgets stop a run: time, tokens from agent answers, files changed outside the allowlist.

use std::time::{Duration, Instant};

use crate::{project, project_with, verify};

#[test]
fn time_budget_stops_a_long_step() {
    let p = project(
        "
  p:
    budget: { time: 1s }
    stages:
      - { name: slow, steps: [ { run: sleep 20 } ] }
      - { name: after, steps: [ { run: touch after } ] }
",
    );
    let start = Instant::now();
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says("budget exceeded (time)");
    assert!(start.elapsed() < Duration::from_secs(8));
    assert!(!p.path().join("after").exists());
    assert_eq!(p.entries_of("budget.exceeded")[0]["body"]["budget"], "time");
    verify(&p);
}

#[test]
fn token_budget_counts_agent_answers() {
    let p = project_with(
        &[(
            "verifier",
            "command: 'echo \"{\\\"decision\\\": \\\"approve\\\", \\\"summary\\\": \\\"ok\\\", \\\"tokens_used\\\": 700}\"'",
        )],
        "
  p:
    budget: { tokens: 500 }
    stages:
      - { name: review, steps: [ { run: 'true' } ], checkpoint: { role: verifier } }
      - { name: ship, steps: [ { run: touch shipped } ] }
",
    );
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says("agents used 700 tokens, budget 500");
    assert!(!p.path().join("shipped").exists());
    verify(&p);
}

fn git(p: &gantry_test_support::TestProject, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(args)
        .current_dir(p.path())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn files_outside_the_allowlist_stop_the_run() {
    let p = project(
        "
  p:
    budget: { files: 5, paths: ['deploy/**'] }
    stages:
      - { name: edit, steps: [ { run: 'mkdir -p deploy src && echo a > deploy/x.yaml' }, { run: 'echo b > src/main.rs' } ] }
      - { name: ship, steps: [ { run: 'true' } ] }
",
    );
    git(&p, &["init", "-q", "."]);
    git(&p, &["add", "gantry.yaml"]);
    git(&p, &["commit", "-qm", "init"]);
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says("outside the allowlist [deploy/**]: src/main.rs");
    let exceeded = p.entries_of("budget.exceeded");
    assert_eq!(exceeded.len(), 1);
    assert_eq!(exceeded[0]["body"]["budget"], "paths");
    assert!(
        p.entries_of("stage.state.started")
            .iter()
            .all(|e| e["body"]["stage"] != "ship")
    );
}

#[test]
fn file_count_budget() {
    let p = project(
        "
  p:
    budget: { files: 1 }
    stages:
      - { name: edit, steps: [ { run: 'touch one two' } ] }
",
    );
    git(&p, &["init", "-q", "."]);
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says("2 files changed, budget 1");
}
