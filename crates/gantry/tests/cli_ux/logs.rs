//! `gantry logs`: a step found by stage name, step name or a unique prefix, `last`, while
//! it runs, and `--follow`.

use std::time::{Duration, Instant};

use crate::project;

const PIPELINE: &str = "  p:\n    stages:\n      - name: build\n        steps:\n          - { name: compile, run: 'echo compiled' }\n          - { name: compile-docs, run: 'echo documented' }\n      - name: check\n        needs: [build]\n        steps:\n          - { name: talk, run: 'echo first-line; while [ ! -f go ]; do sleep 0.05; done; echo second-line' }\n";

#[test]
fn logs_find_steps_by_name_stage_or_prefix_and_follow_a_running_one() {
    let p = project();
    p.write_config(&gantry_test_support::pipeline::config(&[], PIPELINE));
    let mut run = p.spawn(&["run", "p"]);

    // While `talk` runs, its log is there already, found through `last`.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = p.gantry(&["logs", "last", "talk"]);
        if out.code() == 0 && out.stdout().contains("first-line") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no log while running: {}",
            out.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let follow = p.spawn(&["logs", "last", "ta", "--follow"]);
    std::fs::write(p.path().join("go"), "").unwrap();
    let followed = follow.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&followed.stdout);
    assert!(
        followed.status.success(),
        "{}",
        String::from_utf8_lossy(&followed.stderr)
    );
    assert!(
        text.contains("first-line") && text.contains("second-line"),
        "{text}"
    );
    assert!(run.wait().unwrap().success());

    let out = p.gantry(&["logs", "last", "compile"]).ok().stdout();
    assert!(
        out.contains("compiled") && !out.contains("documented"),
        "{out}"
    );
    let out = p.gantry(&["logs", "last", "compile-d"]).ok().stdout();
    assert!(
        out.contains("documented") && !out.contains("compiled"),
        "{out}"
    );
    let out = p.gantry(&["logs", "last", "build"]).ok().stdout();
    assert!(
        out.contains("compiled") && out.contains("documented"),
        "{out}"
    );
    let out = p.gantry(&["logs", "last", "bui"]).ok().stdout();
    assert!(out.contains("==> build/compile-docs"), "{out}");
    p.gantry(&["logs", "last", "comp"])
        .fails_with(2)
        .says("matches more than one step")
        .says("build/compile, build/compile-docs");
    p.gantry(&["logs", "last", "nope"])
        .fails_with(2)
        .says("its steps: build/compile");
    p.gantry(&["logs", "last", "build", "--follow"])
        .fails_with(2)
        .says("--follow follows one step");
}

#[test]
fn logs_last_without_runs_says_how_to_start_one() {
    let p = project();
    p.gantry(&["logs", "last"])
        .fails_with(2)
        .says("no runs in the ledger yet");
}
