//! Step controls: timeout kills the process group, retries, env, cwd, continue_on_error,
//! built-in actions that are not available yet.

use std::time::{Duration, Instant};

use crate::{last_run, project, verify};

/// Alive and not a zombie waiting for its new parent to reap it.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn timeout_kills_grandchildren() {
    let p = project(
        "
  p:
    stages:
      - name: slow
        steps:
          - { run: \"sh -c 'sleep 30 & echo $! > gc.pid; wait' & echo $! > child.pid; wait\", timeout: 1s }
",
    );
    let start = Instant::now();
    p.gantry(&["run", "p"]).fails_with(1).says("timed out");
    assert!(start.elapsed() < Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    for file in ["gc.pid", "child.pid"] {
        let pid: i32 = std::fs::read_to_string(p.path().join(file))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(pid), "{file} ({pid}) survived the timeout");
    }
    assert_eq!(p.entries_of("step.state.timed_out").len(), 1);
    verify(&p);
}

#[test]
fn retries_until_success() {
    let p = project(
        "
  p:
    stages:
      - name: flaky
        steps:
          - { name: flaky, run: 'echo x >> tries; test $(wc -l < tries) -ge 3', retries: 2 }
",
    );
    p.gantry(&["run", "p"]).ok();
    assert_eq!(p.entries_of("step.state.retried").len(), 2);
    let done = p.entries_of("step.state.succeeded");
    assert_eq!(done[0]["body"]["attempt"], 3);
    let run = last_run(&p);
    let log = p.gantry(&["logs", &run, "flaky"]).ok().stdout();
    assert!(log.contains("attempt 3 of 3"), "{log}");
}

#[test]
fn retries_exhausted_fail() {
    let p = project(
        "\n  p:\n    stages:\n      - { name: s, steps: [ { run: 'exit 1', retries: 1 } ] }\n",
    );
    p.gantry(&["run", "p"]).fails_with(1);
    assert_eq!(p.entries_of("step.state.started").len(), 2);
    assert_eq!(p.entries_of("step.state.failed").len(), 1);
}

#[test]
fn env_cwd_and_continue_on_error() {
    let p = project(
        "
  p:
    env: { GREETING: hello }
    stages:
      - name: s
        steps:
          - { run: mkdir -p sub }
          - { name: where, run: 'echo \"$GREETING $WHO from $(basename $PWD)\"', cwd: sub, env: { WHO: world } }
          - { name: allowed, run: 'exit 4', continue_on_error: true }
          - { name: after, run: 'echo still running' }
",
    );
    p.gantry(&["run", "p"]).ok();
    let run = last_run(&p);
    p.gantry(&["logs", &run, "s/where"])
        .ok()
        .says("stdout hello world from sub");
    p.gantry(&["logs", &run, "after"])
        .ok()
        .says("still running");
    let failed = p.entries_of("step.state.failed");
    assert_eq!(failed[0]["body"]["exit_code"], 4);
}

#[test]
fn builtin_actions_are_not_pretended() {
    // `deploy:` and `smoke:` are real now (tests/pipeline/deploy.rs); `doctor:` comes
    // later, so the config is refused before anything runs (issue 8: no inert config).
    let p = project("\n  p:\n    stages:\n      - { name: d, steps: [ { doctor: true } ] }\n");
    p.gantry(&["run", "p"])
        .fails_with(2)
        .says("gantry::config::not_supported")
        .says("is not supported yet");
    assert!(p.entries_of("pipeline.state.started").is_empty());
}

#[test]
fn heartbeat_lines_while_a_step_runs() {
    let p = project(
        "\n  p:\n    stages:\n      - { name: s, steps: [ { name: long, run: sleep 1.2, heartbeat: 300ms } ] }\n",
    );
    p.gantry(&["run", "p"]).ok();
    let run = last_run(&p);
    let text = std::fs::read_to_string(p.path().join(format!(".gantry/runs/{run}/heartbeat.log")))
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 2, "{text}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("20") && l.contains("Z s/long running")),
        "{text}"
    );
}

/// Step-level `if: failure()`: a failure allowed by `continue_on_error` does not trigger it
/// (nor the `failure()` rollback stage); a real failure of an earlier step in the stage
/// does; inside a `failure()` stage it holds from the start.
#[test]
fn step_failure_condition_after_continue_on_error_and_real_failure() {
    let p = project(
        "
  allowed:
    stages:
      - name: s
        steps:
          - { name: flaky, run: 'exit 5', continue_on_error: true }
          - { name: on-failure, run: touch a-on-failure, if: failure() }
          - { name: next, run: touch a-next }
      - { name: rollback, if: failure(), steps: [ { run: touch a-rolled-back } ] }
  broken:
    stages:
      - name: s
        steps:
          - { name: flaky, run: 'exit 5', continue_on_error: true }
          - { name: early, run: touch b-early, if: failure() }
          - { name: boom, run: 'exit 3' }
          - { name: on-failure, run: touch b-on-failure, if: failure() }
          - { name: skipped, run: touch b-skipped }
          - { name: always, run: touch b-always, if: always() }
      - name: rollback
        if: failure()
        steps:
          - { name: undo, run: touch b-rolled-back, if: failure() }
          - { name: plain, run: touch b-plain }
",
    );
    p.gantry(&["run", "allowed"]).ok();
    let run = last_run(&p);
    assert_eq!(
        p.entries_of("step.state.skipped")
            .iter()
            .filter(|e| e["body"]["run"] == run.as_str())
            .map(|e| e["body"]["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["on-failure"]
    );

    p.gantry(&["run", "broken"])
        .fails_with(1)
        .says("exit code 3");
    for (file, exists) in [
        ("a-on-failure", false),
        ("a-next", true),
        ("a-rolled-back", false),
        ("b-early", false),
        ("b-on-failure", true),
        ("b-skipped", false),
        ("b-always", true),
        ("b-rolled-back", true),
        ("b-plain", true),
    ] {
        assert_eq!(p.path().join(file).exists(), exists, "{file}");
    }
    let run = last_run(&p);
    let show = p.gantry(&["--json", "runs", "show", &run]).ok().json();
    let steps = &show["stages"][0]["steps"];
    let status = |name: &str| {
        steps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("flaky"), "failed");
    assert_eq!(status("early"), "skipped");
    assert_eq!(status("on-failure"), "succeeded");
    assert_eq!(status("skipped"), "skipped");
    verify(&p);
}
