//! Ctrl-C on commands that follow something longer-lived: `gantry run` stops its steps and
//! prints the `--resume` command; `deploy --wait` says the rollout goes on and how to
//! follow or abort it.

use std::process::Child;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::{BIN, project};

#[track_caller]
fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn interrupt(child: Child) -> std::process::Output {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    child.wait_with_output().unwrap()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with(['Z', 'X']))
        })
        .is_some_and(|zombie| !zombie)
}

#[test]
fn ctrl_c_on_run_stops_its_steps_and_prints_the_resume_command() {
    let p = project();
    p.write_config(&gantry_test_support::pipeline::config(
        &[],
        "  p:\n    stages:\n      - name: s\n        steps:\n          - { name: wait, run: 'if [ -f again ]; then echo resumed; else echo $$ > step.pid; exec sleep 60; fi' }\n",
    ));
    let child = p.spawn(&["run", "p"]);
    let pid_file = p.path().join("step.pid");
    wait_until(20, "the step to start", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let step: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = interrupt(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let run = last_run(&p);
    assert!(
        stderr.contains(&format!("gantry run --resume {run}")),
        "{stderr}"
    );
    wait_until(10, "the step's process to be stopped", || !alive(step));

    std::fs::write(p.path().join("again"), "").unwrap();
    p.gantry(&["run", "--resume", &run]).ok();
    p.gantry(&["logs", &run, "wait"]).ok().says("resumed");
}

#[test]
fn ctrl_c_on_run_with_json_is_the_json_error() {
    let p = project();
    p.write_config(&gantry_test_support::pipeline::config(
        &[],
        "  p:\n    stages:\n      - name: s\n        steps:\n          - { name: wait, run: 'echo $$ > step.pid; exec sleep 60' }\n",
    ));
    let child = p.spawn(&["--json", "run", "p"]);
    let pid_file = p.path().join("step.pid");
    wait_until(20, "the step to start", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.ends_with('\n'))
    });
    let out = interrupt(child);
    assert_eq!(out.status.code(), Some(130));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "interrupted", "{stdout}");
    assert_eq!(
        last["error"]["hint"],
        format!("gantry run --resume {}", last_run(&p)),
        "{stdout}"
    );
}

/// The id of the latest run.
pub fn last_run(p: &TestProject) -> String {
    let started = p.entries_of("pipeline.state.started");
    started.last().expect("a run started")["body"]["run"]
        .as_str()
        .expect("run id")
        .to_string()
}

pub fn canary_project() -> TestProject {
    let p = project();
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    p.write_config(&format!(
        "project: test\nagents:\n  planner: {{ id: PlanAgent }}\n  operator: {{ id: OperationsBoardAgent }}\n  verifier: {{ id: ReviewAgent }}\n\
services:\n  web:\n    listen: 127.0.0.1:{port}\n    releases:\n      v1: {{ run: \"{d} --port {{port}} --version v1\" }}\n      v2: {{ run: \"{d} --port {{port}} --version v2\" }}\n\
\x20   health:\n      readiness: {{ http: /health, period: 100ms, timeout: 500ms }}\n\
\x20   strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 10m}} ] }} }}\n",
        port = free_port()
    ));
    p
}

#[test]
fn ctrl_c_on_deploy_wait_says_the_rollout_goes_on() {
    let p = canary_project();
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let child = p.spawn(&["deploy", "web", "--version", "v2", "--wait"]);
    // In its 10-minute pause: half the traffic on v2, the deployment still running.
    let in_pause = || {
        let ps = p.gantry(&["--json", "ps"]).ok().json();
        let web = &ps["services"][0];
        web["weights"]["v2"].as_u64().is_some_and(|w| w > 0)
            && !matches!(
                web["deployment"]["phase"].as_str(),
                None | Some("succeeded" | "rolled_back" | "aborted" | "failed")
            )
    };
    wait_until(30, "the canary to reach its pause", in_pause);
    let out = interrupt(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("goes on in the control plane"), "{stderr}");
    assert!(stderr.contains("gantry abort web"), "{stderr}");
    // It does go on: still in its pause, and abortable as said.
    assert!(in_pause());
    p.gantry(&["abort", "web"]).ok();
}
