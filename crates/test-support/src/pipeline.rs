//! Helpers for pipeline tests: a gantry.yaml with the standard roles and given pipelines,
//! background runs, and waiting on the ledger.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::TestProject;

/// The role directory `gantry init` registered keys for, with `extra` lines appended to each
/// role by name (e.g. `("verifier", "manual: true")`).
pub fn config(agents: &[(&str, &str)], pipelines: &str) -> String {
    let mut text = String::from("project: test\nagents:\n");
    for (role, id) in [
        ("planner", "PlanAgent"),
        ("operator", "OperationsBoardAgent"),
        ("verifier", "ReviewAgent"),
    ] {
        let extra = agents
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, e)| format!(", {e}"))
            .unwrap_or_default();
        text.push_str(&format!("  {role}: {{ id: {id}{extra} }}\n"));
    }
    text.push_str("pipelines:\n");
    text.push_str(pipelines);
    text
}

impl TestProject {
    /// Replaces gantry.yaml.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path().join("gantry.yaml"), text).expect("write gantry.yaml");
    }

    /// Starts `gantry ARGS` in the background (output captured).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gantry")
    }

    /// Parsed ledger entries.
    pub fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.ledger_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Entries of `kind`.
    pub fn entries_of(&self, kind: &str) -> Vec<Value> {
        self.entries()
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// Waits until some entry satisfies `pred`; panics after `timeout`.
    #[track_caller]
    pub fn wait_for_entry(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(e) = self.entries().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                start.elapsed() < timeout,
                "no matching ledger entry within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Hex SHA-256, computed by `sha256sum` so the test does not trust gantry's own hashing.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(bytes)
        .expect("write");
    let out = child.wait_with_output().expect("sha256sum output");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
