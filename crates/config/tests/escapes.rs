//! Issue 7: names and paths that would write outside the project are refused by `check`,
//! at the item that is wrong, before anything runs.

mod support;

use gantry_config::{ConfigError, check};
use support::{BASE, expect_err, ok, pos_in};

/// BASE with its pipeline's stages replaced by `stages` (indented list items).
fn with_stages(stages: &str) -> String {
    let head = BASE.split("    stages:\n").next().unwrap();
    format!("{head}    stages:\n{stages}")
}

/// The one error `yaml` has, rendered as `gantry check` shows it (headline, line, caret).
fn only_error(yaml: &str) -> String {
    let errors = check("gantry.yaml", yaml).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        matches!(errors[0], ConfigError::Invalid(_)),
        "{}",
        errors[0]
    );
    errors[0].to_string()
}

#[test]
fn issue7_stage_name_that_climbs_out_of_the_run_dir_is_refused() {
    let yaml = with_stages("      - name: ../../../outside\n        steps: [ { run: make } ]\n");
    assert_eq!(
        only_error(&yaml),
        "gantry.yaml:14:15: stage name '../../../outside' contains a path separator; a stage's \
         logs go to .gantry/runs/RUN/<stage>/, so its name may not be empty, '.' or '..', nor \
         contain '/', '\\' or control characters\n   |\n14 |       - name: ../../../outside\n   \
         |               ^^^^^^^^^^^^^^^^"
    );
}

#[test]
fn issue7_stage_names_that_are_not_one_directory_are_refused() {
    for (name, why) in [
        ("..", "would name the run's directory or its parent"),
        ("'.'", "would name the run's directory or its parent"),
        ("/etc", "contains a path separator"),
        ("'a\\b'", "contains a path separator"),
        ("\"nul\\0byte\"", "contains a control character"),
        ("\"two\\nlines\"", "contains a control character"),
        ("''", "is empty"),
    ] {
        let yaml = with_stages(&format!("      - name: {name}\n"));
        expect_err(&yaml, 14, 15, "gantry::config::stage_name", why);
    }
}

#[test]
fn issue7_stage_and_step_names_users_write_are_accepted() {
    // Step names only reach file names through a slug, so dots, slashes and spaces in them
    // are harmless; only control characters (forged log lines) are refused.
    let yaml = with_stages(
        "      - name: deploy to staging\n        steps:\n          - { name: ../../etc/passwd, run: make }\n          - { name: build & test (release), run: make }\n      - name: v1.2-rc_3\n        steps: [ { name: /abs/name, run: make } ]\n",
    );
    ok(&yaml);
}

#[test]
fn issue7_step_name_with_a_control_character_is_refused() {
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - { name: \"ok\\n✓ deploy done\", run: make }\n",
    );
    expect_err(
        &yaml,
        16,
        21,
        "gantry::config::step_name",
        "step name 'ok\\n✓ deploy done' in stage 'ci' contains a control character; step names are printed in logs, heartbeat lines and on the terminal, where it could forge lines",
    );
}

#[test]
fn issue7_report_outside_the_project_is_refused() {
    let report = |path: &str| {
        BASE.replace(
            "    stages:\n",
            &format!("    report: {path}\n    stages:\n"),
        )
    };
    let yaml = report("/tmp/outcomes.md");
    assert_eq!(
        only_error(&yaml),
        "gantry.yaml:13:13: report '/tmp/outcomes.md' of pipeline 'release' is absolute, \
         outside the project; the report is written relative to the project root and must stay \
         inside it, outside .gantry/\n   |\n13 |     report: /tmp/outcomes.md\n   |             \
         ^^^^^^^^^^^^^^^^"
    );
    let yaml = report("docs/../../outcomes.md");
    expect_err(
        &yaml,
        13,
        13,
        "gantry::config::path_escape",
        "report 'docs/../../outcomes.md' of pipeline 'release' goes up with '..', which can leave the project",
    );
    let yaml = report(".gantry/ledger.jsonl");
    expect_err(
        &yaml,
        13,
        13,
        "gantry::config::path_escape",
        "is inside .gantry/, which holds the ledger and keys",
    );
    let yaml = report("./gantry.yaml");
    expect_err(
        &yaml,
        13,
        13,
        "gantry::config::path_escape",
        "is the config file itself",
    );
    ok(&report("docs/OUTCOMES.md"));
}

/// The codes and messages of every problem `check` finds, in file order.
fn problems(yaml: &str) -> Vec<(String, String)> {
    check("gantry.yaml", yaml)
        .unwrap_err()
        .iter()
        .map(|e| (e.code().to_string(), e.message().to_string()))
        .collect()
}

#[test]
fn issue7_status_report_output_outside_the_project_is_refused() {
    // The `status:` step itself is not supported yet (issue 8); its output path is still
    // checked, so the step cannot come back with the hole.
    let yaml = with_stages(
        "      - name: report\n        steps:\n          - { status: { output: ../../STATUS.md } }\n",
    );
    let found = problems(&yaml);
    assert!(
        found.iter().any(|(code, m)| code == "gantry::config::path_escape"
            && m.contains("status report output '../../STATUS.md' in stage 'report' goes up with '..', which can leave the project")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|(code, _)| code == "gantry::config::not_supported"),
        "{found:#?}"
    );
    let yaml = with_stages(
        "      - name: report\n        steps:\n          - { status: { output: .gantry/state.json } }\n",
    );
    let found = problems(&yaml);
    assert!(
        found
            .iter()
            .any(|(code, m)| code == "gantry::config::path_escape"
                && m.contains("is inside .gantry/")),
        "{found:#?}"
    );
}

#[test]
fn issue7_artefact_outside_the_project_is_refused_by_check() {
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - { name: build, run: make, artefacts: [dist/ok, ../secrets.txt] }\n",
    );
    assert_eq!(
        only_error(&yaml),
        "gantry.yaml:16:60: artefact '../secrets.txt' of step 'build' (stage 'ci') goes up with \
         '..', which can leave the project; artefact paths are relative to the project root and \
         stay inside it\n   |\n16 |           - { name: build, run: make, artefacts: [dist/ok, \
         ../secrets.txt] }\n   |                                                            \
         ^^^^^^^^^^^^^^"
    );
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - run: make\n            artefacts:\n              - /etc/shadow\n              - 'dist\\x'\n",
    );
    let errors = check("gantry.yaml", &yaml).unwrap_err();
    let found: Vec<(u64, u64, String)> = errors
        .iter()
        .map(|e| (e.line().unwrap(), e.column().unwrap(), e.message()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                18,
                17,
                "artefact '/etc/shadow' of step 'run: make' (stage 'ci') is absolute, outside the project; artefact paths are relative to the project root and stay inside it".to_string()
            ),
            (
                19,
                17,
                "artefact 'dist\\\\x' of step 'run: make' (stage 'ci') contains '\\', which sha256_manifest.txt cannot record; artefact paths are relative to the project root and stay inside it".to_string()
            ),
        ]
    );
}

#[test]
fn issue7_checkpoint_requirement_outside_the_project_is_refused_by_check() {
    let yaml =
        format!("{BASE}        checkpoint: {{ role: planner, requires: [dist/a, /etc/passwd] }}\n");
    let at = pos_in(&yaml, "/etc/passwd", "/etc/passwd");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::path_escape",
        "artefact '/etc/passwd' required by the checkpoint of stage 'ci' is absolute, outside the project",
    );
    let yaml = format!("{BASE}        checkpoint: {{ role: planner, requires: [dist/../../x] }}\n");
    let at = pos_in(&yaml, "dist/../../x", "dist");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::path_escape",
        "goes up with '..'",
    );
}

#[test]
fn the_example_and_relative_paths_still_pass() {
    ok(gantry_config::EXAMPLE);
    let yaml = with_stages(
        "      - name: ci\n        steps:\n          - { run: make, artefacts: ['dist/b c', ./dist/x, a..b] }\n        checkpoint: { role: planner, requires: [dist/x] }\n",
    );
    ok(&yaml);
}
