//! Allowed tools (`budget.tools`): `gantry check` refuses a `run:` starting with anything
//! else, and steps find only those programs (and `sh`) on their PATH.

use crate::project_with;

const TOOLS: &str = r#"project: tools
agents:
  operator: { id: OperationsBoardAgent }
pipelines:
  release:
    budget: { tools: [cat, wc] }
    stages:
      - name: build
        steps:
          - { name: count, run: "echo one two | wc -w > words.txt && cat words.txt" }
          - { name: sneaky, run: "sh -c 'ls /'", continue_on_error: true }
          - { name: widen, run: "sh -c 'ls /'", env: { PATH: /usr/bin:/bin }, continue_on_error: true }
"#;

#[test]
fn check_refuses_a_run_whose_program_is_not_allowed() {
    let text = TOOLS.replace("\"sh -c 'ls /'\", env", "\"curl http://127.0.0.1/\", env");
    let p = project_with(&text);
    p.gantry(&["check"])
        .fails_with(2)
        .says("gantry.yaml:12:33: step 'widen' of pipeline")
        .says("runs 'curl', which `budget.tools` does not allow (cat, wc)");
}

#[test]
fn steps_find_only_the_allowed_tools_and_the_shell() {
    // `ls` is refused by check when it starts a run:, so this config hides it behind sh,
    // once with a PATH of the step's own: both must still fail to find it.
    let p = project_with(TOOLS);
    p.gantry(&["run", "release"]).ok();
    assert_eq!(
        std::fs::read_to_string(p.path().join("words.txt"))
            .unwrap()
            .trim(),
        "2"
    );
    let failed = p.entries_of("step.state.failed");
    let names: Vec<&str> = failed
        .iter()
        .map(|e| e["body"]["step"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(failed.len(), 2, "sneaky and widen fail: {failed:?}");
    let run = p.entries_of("pipeline.state.started")[0]["body"]["run"]
        .as_str()
        .unwrap()
        .to_string();
    let logs = p.gantry(&["logs", &run]).ok().stdout();
    assert!(
        logs.matches("ls: not found").count() == 2,
        "{names:?}\n{logs}"
    );
    let bin = p.path().join(format!(".gantry/runs/{run}/bin"));
    let mut links: Vec<String> = std::fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    links.sort();
    assert_eq!(links, ["cat", "sh", "wc"]);
}

#[test]
fn a_tool_that_is_not_installed_stops_the_run_before_it_starts() {
    let p = project_with(&TOOLS.replace("[cat, wc]", "[cat, wc, no-such-tool-xyz]"));
    p.gantry(&["run", "release"])
        .fails_with(1)
        .says("`budget.tools` allows 'no-such-tool-xyz', which is not on PATH");
    assert!(!p.path().join("words.txt").exists());
}
