//! A reader that goes away (`gantry ps | head -1`) ends every read command quietly: exit 0,
//! no panic, nothing on stderr.

use std::process::Stdio;

use gantry_test_support::TestProject;
use gantry_test_support::demo::demo_app;
use gantry_test_support::serve::Serve;

use crate::{BIN, project};

/// `gantry ARGS` with stdout a pipe whose read end is already closed, so the first write
/// fails with EPIPE whatever the timing: (exit code, stderr).
fn into_closed_pipe(p: &TestProject, args: &[&str]) -> (Option<i32>, String) {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let out = p
        .command(args)
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run gantry");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_read_command_exits_quietly_into_a_closed_pipe() {
    let p = project();
    let demo = demo_app(std::path::Path::new(BIN));
    p.write_config(&format!(
        "project: test\nagents:\n  planner: {{ id: PlanAgent }}\n  operator: {{ id: OperationsBoardAgent }}\n  verifier: {{ id: ReviewAgent }}\n\
services:\n  web:\n    listen: 127.0.0.1:{port}\n    releases: {{ v1: {{ run: \"{demo} --port {{port}}\" }} }}\n    health: {{ readiness: {{ http: /health }} }}\n\
pipelines:\n  p:\n    stages:\n      - name: s\n        steps: [ {{ name: hello, run: 'seq 1 5000' }} ]\n",
        port = gantry_test_support::demo::free_port(),
        demo = demo.display()
    ));
    p.gantry(&["run", "p"]).ok();
    p.gantry(&["ledger", "seal"]).ok();
    let serve = Serve::start(&p);
    let run = &crate::interrupt::last_run(&p);
    let read: &[&[&str]] = &[
        &["check"],
        &["agent", "list"],
        &["ledger", "show"],
        &["ledger", "verify"],
        &["ledger", "checkpoint"],
        &["ledger", "verifier-key"],
        &["ledger", "prove", "1"],
        &["ledger", "export"],
        &["runs"],
        &["runs", "show", run],
        &["logs", run],
        &["logs", run, "hello"],
        &["report"],
        &["replay"],
        &["ps"],
        &["history", "web"],
        &["completions", "bash"],
        &["completions", "zsh"],
        &["completions", "fish"],
        &["--help"],
        &["ledger", "--help"],
        &["--version"],
    ];
    let mut problems = Vec::new();
    for args in read {
        for json in [false, true] {
            let mut all = Vec::new();
            if json {
                all.push("--json");
            }
            all.extend_from_slice(args);
            let (code, stderr) = into_closed_pipe(&p, &all);
            if code != Some(0) || !stderr.is_empty() {
                problems.push(format!(
                    "gantry {}: exit {code:?}, stderr: {stderr}",
                    all.join(" ")
                ));
            }
        }
    }
    drop(serve);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
