//! Evidence: the manifest checks with `sha256sum -c`, secrets appear nowhere, the report
//! rebuilds to the same bytes, `--json` prints one event per line.

use crate::{last_run, project, verify};

#[test]
fn manifest_passes_sha256sum() {
    let p = project(
        "
  p:
    stages:
      - name: build
        steps:
          - { run: 'mkdir -p dist && echo one > dist/a && echo two > \"dist/b c\"', artefacts: [dist/a, 'dist/b c'] }
",
    );
    p.gantry(&["run", "p"]).ok();
    let run = last_run(&p);
    let manifest = format!(".gantry/runs/{run}/sha256_manifest.txt");
    let out = std::process::Command::new("sha256sum")
        .args(["-c", &manifest])
        .current_dir(p.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = std::fs::read_to_string(p.path().join(&manifest)).unwrap();
    assert_eq!(text.lines().count(), 2);
    let entry = &p.entries_of("artefacts.manifest")[0];
    let hash = gantry_test_support::pipeline::sha256_hex(text.as_bytes());
    assert_eq!(entry["body"]["sha256"], hash.as_str());
}

#[test]
fn secrets_appear_nowhere_under_gantry() {
    let secret = "s3cr3t-Value-42";
    let p = project(
        "
  p:
    secrets: [DEPLOY_CRED]
    stages:
      - name: leak
        steps:
          - { name: leak, run: 'echo \"token is $DEPLOY_CRED\"; printf \"s3cr3t-\"; sleep 0.2; printf \"Value-42\\n\"; echo $API_TOKEN >&2; exit 1' }
",
    );
    let out = p
        .command(&["run", "p"])
        .env("DEPLOY_CRED", secret)
        .env("API_TOKEN", "tok-abcdef-123")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let run = last_run(&p);
    let log = p.gantry(&["logs", &run, "leak"]).ok().stdout();
    assert!(log.contains("token is ***"), "{log}");
    assert_eq!(log.matches("***").count(), 3, "{log}");
    let grep = std::process::Command::new("grep")
        .args([
            "-r",
            "-l",
            "-e",
            secret,
            "-e",
            "tok-abcdef-123",
            ".gantry",
            "docs",
        ])
        .current_dir(p.path())
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "secret found in {}",
        String::from_utf8_lossy(&grep.stdout)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    verify(&p);
}

#[test]
fn report_rebuilds_to_the_same_bytes() {
    let p = project(
        "
  p:
    stages:
      - { name: a, steps: [ { run: 'true' } ], checkpoint: { role: planner } }
",
    );
    p.gantry(&["run", "p"]).ok();
    p.gantry(&["run", "p"]).ok();
    let path = p.path().join("docs/reports/DEPLOYMENT_OUTCOMES.md");
    let before = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        before
            .lines()
            .filter(|l| l.contains("| p | succeeded |"))
            .count(),
        2,
        "{before}"
    );
    assert!(before.contains("PlanAgent as planner"));
    std::fs::remove_file(&path).unwrap();
    p.gantry(&["report", "--rebuild"]).ok();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn json_prints_one_event_per_line() {
    let p = project("\n  p:\n    stages:\n      - { name: a, steps: [ { run: 'echo hi' } ] }\n");
    let out = p.gantry(&["--json", "run", "p"]).ok().stdout();
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_finished" && e["status"] == "succeeded")
    );
}

#[test]
fn github_actions_groups_and_summary() {
    let p = project(
        "\n  p:\n    stages:\n      - { name: a, steps: [ { name: boom, run: 'exit 2' } ] }\n",
    );
    let summary = p.path().join("summary.md");
    let out = p
        .command(&["run", "p"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("::group::a / boom"), "{stdout}");
    assert!(
        stdout.contains("::error title=a / boom::exit code 2"),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(summary)
            .unwrap()
            .contains("| a | boom | failed |")
    );
}
