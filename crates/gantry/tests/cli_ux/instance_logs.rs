//! `gantry logs --service web [--instance I] [--follow]` (issue 11, item 6): what real
//! instances started by the control plane wrote to stdout and stderr.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;

use crate::{BIN, project};

/// `web` v1: says hello (stdout), warns (stderr), then ticks every 200 ms while it serves.
fn talky_project() -> TestProject {
    let p = project();
    let demo = demo_app(std::path::Path::new(BIN));
    let d = demo.display();
    p.write_config(&format!(
        "project: test\nagents:\n  planner: {{ id: PlanAgent }}\n  operator: {{ id: OperationsBoardAgent }}\n  verifier: {{ id: ReviewAgent }}\n\
services:\n  web:\n    listen: 127.0.0.1:{port}\n    releases:\n      v1: {{ run: \"echo hello-from-$GANTRY_INSTANCE; echo warn-on-stderr >&2; (while true; do echo tick; sleep 0.2; done) & exec {d} --port {{port}} --version v1\" }}\n\
\x20   health:\n      readiness: {{ http: /health, period: 100ms, timeout: 500ms }}\n\
\x20   strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 1s}} ] }} }}\n\
policy: {{ default: warning }}\n",
        port = free_port()
    ));
    p
}

fn ticks(text: &str) -> usize {
    text.lines().filter(|l| l.trim_end() == "tick").count()
}

#[test]
fn logs_of_a_service_show_its_instances_output_and_follow_it() {
    let p = talky_project();
    p.gantry(&["logs", "--service", "web"])
        .fails_with(2)
        .says("no instance of web has written a log yet");
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1", "--wait"])
        .ok();

    let text = p.gantry(&["logs", "--service", "web"]).ok().stdout();
    assert!(text.contains("hello-from-web-v1-"), "{text}");
    assert!(
        text.contains("warn-on-stderr"),
        "stderr is kept too: {text}"
    );

    let doc = p
        .gantry(&["--json", "logs", "--service", "web", "--instance", "web-v1"])
        .ok()
        .json();
    let inst = &doc["instances"][0];
    assert!(
        inst["instance"].as_str().unwrap().starts_with("web-v1-"),
        "{doc}"
    );
    assert!(
        inst["text"].as_str().unwrap().contains("hello-from"),
        "{doc}"
    );

    p.gantry(&["logs", "--service", "web", "--instance", "db"])
        .fails_with(2)
        .says("no instance 'db' of web has a log");

    // --follow prints what is written after it started.
    let out_path = p.path().join("follow.out");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = p
        .command(&["logs", "--service", "web", "--follow"])
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let at_start = ticks(&p.gantry(&["logs", "--service", "web"]).ok().stdout());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut text = String::new();
        std::fs::File::open(&out_path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        if ticks(&text) >= at_start + 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "--follow did not show new lines ({at_start} at start): {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(child.try_wait().unwrap().is_none(), "follow keeps going");
    child.kill().unwrap();
    child.wait().unwrap();
}
