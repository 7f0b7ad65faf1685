//! Pipeline integration tests: the real `gantry` binary running real subprocesses.

mod agent_io;
mod budget;
mod checkpoints;
mod dag;
mod disk_full;
mod evidence;
mod output;
mod resume;
mod rundir;
mod secrets;
mod steps;

use gantry_test_support::TestProject;
use gantry_test_support::pipeline::config;

/// A project after `gantry init` whose gantry.yaml holds `pipelines` (YAML under
/// `pipelines:`), with extra settings per role.
pub fn project_with(agents: &[(&str, &str)], pipelines: &str) -> TestProject {
    let p = TestProject::init(env!("CARGO_BIN_EXE_gantry"));
    p.write_config(&config(agents, pipelines));
    p
}

pub fn project(pipelines: &str) -> TestProject {
    project_with(&[], pipelines)
}

/// The id of the latest run.
pub fn last_run(p: &TestProject) -> String {
    let started = p.entries_of("pipeline.state.started");
    started.last().expect("a run started")["body"]["run"]
        .as_str()
        .expect("run id")
        .to_string()
}

/// Every run must leave a ledger that verifies.
#[track_caller]
pub fn verify(p: &TestProject) {
    p.gantry(&["ledger", "verify"]).ok();
}

/// Kinds of the entries for this run, in order.
pub fn kinds(p: &TestProject, run: &str) -> Vec<String> {
    p.entries()
        .into_iter()
        .filter(|e| e["body"]["run"] == run)
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}
