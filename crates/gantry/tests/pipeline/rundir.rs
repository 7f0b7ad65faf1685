//! Issue 7: a run directory, or `.gantry/runs` itself, that is a symlink leading outside
//! `.gantry/` is refused before anything is written through it.

use std::os::unix::fs::symlink;
use std::path::Path;

use gantry_test_support::TestProject;

use crate::{last_run, project, verify};

const PIPELINE: &str = "
  p:
    stages:
      - { name: build, steps: [ { name: once, run: 'test -f ok' } ] }
";

/// A directory outside the project (a temporary one of its own).
fn outside() -> TestProject {
    TestProject::empty(env!("CARGO_BIN_EXE_gantry"))
}

/// Every file under DIR with its content, to see that nothing was written there.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                todo.push(path.clone());
            }
            let bytes = std::fs::read(&path).unwrap_or_default();
            out.push((path.to_string_lossy().into_owned(), bytes));
        }
    }
    out.sort();
    out
}

#[test]
fn issue7_runs_dir_symlinked_outside_gantry_is_refused() {
    let p = project(PIPELINE);
    let outside = outside();
    symlink(outside.path(), p.path().join(".gantry/runs")).unwrap();
    let before = p.entries().len();
    p.gantry(&["run", "p"])
        .fails_with(1)
        .says(".gantry/runs: refused as a run directory: it is a symlink to")
        .says("outside");
    assert!(
        snapshot(outside.path()).is_empty(),
        "written through the link"
    );
    assert_eq!(p.entries().len(), before, "no run was recorded");

    // A link that stays inside .gantry/ is fine.
    std::fs::remove_file(p.path().join(".gantry/runs")).unwrap();
    std::fs::create_dir(p.path().join(".gantry/run-store")).unwrap();
    symlink("run-store", p.path().join(".gantry/runs")).unwrap();
    std::fs::write(p.path().join("ok"), "").unwrap();
    p.gantry(&["run", "p"]).ok();
    let run = last_run(&p);
    assert!(
        p.path()
            .join(".gantry/run-store")
            .join(&run)
            .join("build")
            .is_dir()
    );
    verify(&p);
}

#[test]
fn issue7_run_dir_symlinked_outside_gantry_is_refused_on_resume() {
    let p = project(PIPELINE);
    p.gantry(&["run", "p"]).fails_with(1);
    let run = last_run(&p);
    let dir = p.path().join(".gantry/runs").join(&run);
    let outside = outside();
    let moved = outside.path().join(&run);
    std::fs::rename(&dir, &moved).unwrap();
    symlink(&moved, &dir).unwrap();
    let before = snapshot(outside.path());
    let entries = p.entries().len();
    std::fs::write(p.path().join("ok"), "").unwrap();
    p.gantry(&["run", "--resume", &run])
        .fails_with(1)
        .says(&format!(".gantry/runs/{run}: refused as a run directory"));
    p.gantry(&["runs"]).ok();
    assert_eq!(snapshot(outside.path()), before, "written through the link");
    assert_eq!(p.entries().len(), entries, "nothing recorded");
    verify(&p);
}

#[test]
fn issue7_stage_dir_symlink_is_not_written_through() {
    let p = project(PIPELINE);
    p.gantry(&["run", "p"]).fails_with(1);
    let run = last_run(&p);
    let stage = p.path().join(".gantry/runs").join(&run).join("build");
    std::fs::remove_dir_all(&stage).unwrap();
    let outside = outside();
    symlink(outside.path(), &stage).unwrap();
    std::fs::write(p.path().join("ok"), "").unwrap();
    p.gantry(&["run", "--resume", &run])
        .fails_with(1)
        .says("is a symlink; step logs are not written through one");
    assert!(snapshot(outside.path()).is_empty());
    verify(&p);
}
