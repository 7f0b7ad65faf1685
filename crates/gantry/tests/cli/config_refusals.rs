//! Issue 7: `gantry check` (and `gantry run`, before it starts anything) refuses names and
//! paths that would write outside the project and declared secrets too short to mask.

use std::fs;

use gantry_test_support::TestProject;
use gantry_test_support::pipeline::config;

use crate::project;

/// An initialised project whose gantry.yaml has `pipelines` (indented under `pipelines:`).
fn with_pipelines(pipelines: &str) -> TestProject {
    let p = project();
    p.write_config(&config(&[], pipelines));
    p
}

/// stderr as one line: miette wraps long messages and frames them with `│`.
fn flat(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).replace(['│', '×'], " ");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `line:column` (1-based) in gantry.yaml of `target`, on the first line holding `context`.
fn pos_of(p: &TestProject, context: &str, target: &str) -> String {
    let text = fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    let (n, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(context))
        .expect(context);
    let column = line[..line.find(target).expect(target)].chars().count() + 1;
    format!("{}:{column}", n + 1)
}

const SHORT_SECRET: &str = "
  release:
    secrets: [DEPLOY_PIN]
    stages:
      - name: build
        steps:
          - { name: mark, run: 'touch step-ran' }
";

#[test]
fn issue7_short_secret_is_refused_by_check() {
    let p = with_pipelines(SHORT_SECRET);
    let at = pos_of(&p, "secrets: [DEPLOY_PIN]", "DEPLOY_PIN");
    let run = p
        .command(&["check"])
        .env("DEPLOY_PIN", "0")
        .output()
        .unwrap();
    let err = flat(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "gantry.yaml:{at}: secret 'DEPLOY_PIN' of pipeline 'release' is only 1 character long (from the environment)"
        )),
        "{err}"
    );
    assert!(
        err.contains("would rewrite unrelated text") && err.contains("reveal the secret"),
        "{err}"
    );
    // Unset, it is not an error: there is nothing to mask.
    p.gantry(&["check"]).ok().says("OK");
    // Long enough, it is fine.
    let out = p
        .command(&["check"])
        .env("DEPLOY_PIN", "4821-x")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn issue7_short_secret_is_refused_by_run_before_it_starts() {
    let p = with_pipelines(SHORT_SECRET);
    let before = p.ledger_lines();
    let run = p
        .command(&["run", "release"])
        .env("DEPLOY_PIN", "42")
        .output()
        .unwrap();
    let err = flat(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("secret 'DEPLOY_PIN' of pipeline 'release' is only 2 characters long"),
        "{err}"
    );
    assert_eq!(
        p.ledger_lines(),
        before,
        "a refused run must record nothing"
    );
    assert!(!p.path().join("step-ran").exists(), "the step must not run");
    assert!(!p.path().join(".gantry/runs").exists(), "no run directory");
}

#[test]
fn issue7_path_escapes_are_refused_by_check() {
    let p = with_pipelines(
        "
  release:
    report: ../OUTCOMES.md
    stages:
      - name: ../../escaped
        steps:
          - { name: build, run: 'echo hi > ../planted', artefacts: [/etc/passwd] }
        checkpoint: { role: planner, requires: [dist/../../secret] }
",
    );
    let before = p.ledger_lines();
    let run = p.gantry(&["check"]).fails_with(2);
    let err = flat(&run.output.stderr);
    for (context, target, what) in [
        (
            "report:",
            "../OUTCOMES.md",
            "report '../OUTCOMES.md' of pipeline 'release' goes up with '..'",
        ),
        (
            "- name:",
            "../../escaped",
            "stage name '../../escaped' contains a path separator",
        ),
        (
            "artefacts:",
            "/etc/passwd",
            "artefact '/etc/passwd' of step 'build' (stage '../../escaped') is absolute, outside the project",
        ),
        (
            "requires:",
            "dist/../../secret",
            "artefact 'dist/../../secret' required by the checkpoint of stage '../../escaped' goes up with '..'",
        ),
    ] {
        let at = pos_of(&p, context, target);
        assert!(
            err.contains(&format!("gantry.yaml:{at}: {what}")),
            "{context}: {err}"
        );
    }
    assert!(err.contains("4 problems in the configuration"), "{err}");
    // `run` loads the same config: nothing runs, nothing is written outside.
    p.gantry(&["run", "release"])
        .fails_with(2)
        .says("stage name '../../escaped'");
    assert_eq!(p.ledger_lines(), before);
    let parent = p.path().parent().unwrap();
    assert!(!parent.join("planted").exists() && !parent.join("OUTCOMES.md").exists());
}

#[test]
fn issue7_step_name_with_dots_keeps_its_log_in_the_run_dir() {
    // Step names reach file names only through a slug, so check accepts them as written.
    let p = with_pipelines(
        "
  release:
    stages:
      - name: build
        steps:
          - { name: ../../../../escaped, run: 'echo from the step' }
",
    );
    p.gantry(&["check"]).ok();
    p.gantry(&["run", "release"]).ok();
    let started = p.entries_of("step.state.started");
    let log = started[0]["body"]["log"].as_str().unwrap().to_string();
    assert!(log.starts_with(".gantry/runs/"), "{log}");
    assert!(!log.contains(".."), "{log}");
    let text = fs::read_to_string(p.path().join(&log)).unwrap();
    assert!(text.contains("from the step"), "{text}");
    let parent = p.path().parent().unwrap();
    assert!(!parent.join("escaped.log").exists());
    assert!(
        fs::read_dir(parent).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("escaped")),
        "a log was written next to the project"
    );
}
