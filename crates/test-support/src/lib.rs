//! Shared fixtures for gantry's integration tests: a project in a temporary directory and a
//! builder for running the real `gantry` binary in it.

pub mod fake_driver;
pub mod forge;
pub mod pipeline;
pub mod plane;
pub mod tmpfs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A gantry project in its own temporary directory, removed on drop.
pub struct TestProject {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl TestProject {
    /// An empty directory; pass `env!("CARGO_BIN_EXE_gantry")` as `bin`.
    pub fn empty(bin: impl Into<PathBuf>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("gantry-test-")
            .tempdir()
            .expect("create temp dir");
        TestProject {
            dir,
            bin: bin.into(),
        }
    }

    /// A project after `gantry init` (example config, ledger, agent keys).
    pub fn init(bin: impl Into<PathBuf>) -> Self {
        let project = Self::empty(bin);
        project.gantry(&["init", "--project", "test"]).ok();
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.path().join(".gantry/ledger.jsonl")
    }

    /// A `gantry` command running in the project directory, with a clean key environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).current_dir(self.path());
        for (var, _) in std::env::vars() {
            if var.starts_with("GANTRY_") {
                cmd.env_remove(var);
            }
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `gantry ARGS` and returns what it did.
    pub fn gantry(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run gantry");
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            output,
        }
    }

    /// Appends one entry as `role` with `gantry ledger append`.
    pub fn append(&self, role: &str, kind: &str, body: impl AsRef<str>) -> Run {
        let args = [
            "ledger",
            "append",
            "--as",
            role,
            "--kind",
            kind,
            "--body",
            body.as_ref(),
        ];
        self.gantry(&args)
    }

    /// Runs `gantry ARGS` with `input` on stdin.
    pub fn gantry_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gantry");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let output = child.wait_with_output().expect("wait gantry");
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            output,
        }
    }

    pub fn ledger_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.ledger_path())
            .expect("read ledger")
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn write_ledger_lines(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(self.ledger_path(), text).expect("write ledger");
    }
}

/// The outcome of one gantry invocation, with assertions that print everything on failure.
pub struct Run {
    args: Vec<String>,
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn describe(&self) -> String {
        format!(
            "gantry {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.args.join(" "),
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.output.status.success(),
            "expected success:\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            code,
            "unexpected exit code:\n{}",
            self.describe()
        );
        self
    }

    /// Asserts that stdout or stderr contains `needle`.
    #[track_caller]
    pub fn says(self, needle: &str) -> Self {
        let all = format!("{}{}", self.stdout(), self.stderr());
        assert!(
            all.contains(needle),
            "expected output to contain {needle:?}:\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }
}

pub mod demo;
pub mod load;
pub mod serve;
