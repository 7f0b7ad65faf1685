//! Watching a rollout (issue 11, item 2): on a pseudo-terminal (util-linux `script`)
//! `ps --watch` and `deploy --wait` redraw one view in place; without one, `ps --watch`
//! prints one ledger event per line.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::{BIN, have, project};

/// A canary whose one step pauses for `pause`.
fn canary(pause: &str) -> TestProject {
    let p = project();
    let demo = demo_app(Path::new(BIN));
    let d = demo.display();
    p.write_config(&format!(
        "project: test\nagents:\n  planner: {{ id: PlanAgent }}\n  operator: {{ id: OperationsBoardAgent }}\n  verifier: {{ id: ReviewAgent }}\n\
services:\n  web:\n    listen: 127.0.0.1:{port}\n    releases:\n      v1: {{ run: \"{d} --port {{port}} --version v1\" }}\n      v2: {{ run: \"{d} --port {{port}} --version v2\" }}\n\
\x20   health:\n      readiness: {{ http: /health, period: 100ms, timeout: 500ms }}\n\
\x20   strategy: {{ canary: {{ steps: [ {{weight: 50, pause: {pause}}} ] }} }}\n\
policy: {{ default: warning }}\n",
        port = free_port()
    ));
    p
}

/// `gantry ARGS` on a pseudo-terminal, its output into `out`, in its own process group.
fn on_pty(p: &TestProject, args: &str, out: &Path) -> Child {
    let file = std::fs::File::create(out).unwrap();
    Command::new("script")
        .args(["-q", "-e", "-c", &format!("'{BIN}' {args}"), "/dev/null"])
        .current_dir(p.path())
        .env("COLUMNS", "160")
        .env("LINES", "60")
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// The distinct "N.Ns held" figures the view showed, in order.
fn held_values(text: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for (i, _) in text.match_indices("pause: ") {
        let rest = &text[i + "pause: ".len()..];
        if let Some(v) = rest.split_whitespace().next()
            && !seen.iter().any(|s| s == v)
        {
            seen.push(v.to_string());
        }
    }
    seen
}

#[test]
fn ps_watch_redraws_the_rollout_in_place_on_a_terminal() {
    if !have("script") {
        return;
    }
    let p = canary("10m");
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    p.gantry(&["deploy", "web", "--version", "v2"]).ok();
    let out = p.path().join("watch.out");
    let mut child = on_pty(&p, "ps --watch", &out);
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = read(&out);
        if held_values(&text).len() >= 3 {
            break text;
        }
        assert!(Instant::now() < deadline, "no redrawn pause view: {text:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.wait();
    assert!(text.contains('\x1b'), "redrawn with escapes: {text:?}");
    assert!(
        text.lines()
            .any(|l| l.contains("▶ ") && l.contains(". pause 600000ms")),
        "the current step is marked: {text:?}"
    );
    assert!(text.contains("✓ 1. start"), "{text:?}");
    assert!(text.contains("weights: desired v1=50 v2=50"), "{text:?}");
    assert!(text.contains("instance web-v2-"), "{text:?}");
    p.gantry(&["abort", "web"]).ok();
}

#[test]
fn deploy_wait_redraws_in_place_on_a_terminal() {
    if !have("script") {
        return;
    }
    let p = canary("2500ms");
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let out = p.path().join("deploy.out");
    let mut child = on_pty(&p, "deploy web --version v2 --wait", &out);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "deploy --wait never ended");
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = read(&out);
    assert!(status.success(), "{text:?}");
    assert!(text.contains('\x1b'), "redrawn with escapes: {text:?}");
    assert!(
        held_values(&text).len() >= 2,
        "the pause's time moved in place: {text:?}"
    );
    assert!(text.contains("weights: desired"), "{text:?}");
    assert!(
        text.contains("v2 serves all traffic"),
        "the timeline too: {text:?}"
    );
}

#[test]
fn ps_watch_without_a_terminal_prints_one_event_per_line() {
    let p = canary("1s");
    let _serve = Serve::start(&p);
    let out = p.path().join("events.out");
    let mut child = p
        .command(&["--json", "ps", "--watch"])
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = read(&out);
        // Whole lines only: the last may be half written.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let lines: Vec<Value> = whole
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect();
        if lines
            .iter()
            .any(|e| e["kind"] == "deployment.state.succeeded")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no events: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
