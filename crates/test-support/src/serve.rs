//! `gantry serve` for tests: started in a project on a free API port, torn down (with every
//! instance it started, found through the ledger) when dropped.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

use crate::{Run, TestProject};

/// A running control plane.
pub struct Serve {
    child: Option<Child>,
    pub url: String,
    pub log: PathBuf,
    project_root: PathBuf,
    /// Kill the project's instances on drop (not once a successor owns them).
    reap: bool,
}

impl Serve {
    /// Starts `gantry serve` in `project` and waits until its API is up.
    pub fn start(project: &TestProject) -> Serve {
        Serve::start_with_env(project, &[])
    }

    /// As [`Serve::start`], with these environment variables set for serve (webhook URLs
    /// a config names by `webhook_env`).
    pub fn start_with_env(project: &TestProject, env: &[(&str, &str)]) -> Serve {
        let log = project.path().join(".gantry/serve-test.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open serve log");
        let serve_file = project.path().join(".gantry/serve.json");
        let _ = std::fs::remove_file(&serve_file);
        use std::os::unix::process::CommandExt;
        let mut cmd = project.command(&["serve", "--listen", "127.0.0.1:0"]);
        cmd.envs(env.iter().copied());
        let child = cmd
            .stdout(Stdio::from(out.try_clone().expect("clone log")))
            .stderr(Stdio::from(out))
            .process_group(0)
            .spawn()
            .expect("spawn gantry serve");
        let pid = child.id();
        let mut serve = Serve {
            child: Some(child),
            url: String::new(),
            log: log.clone(),
            project_root: project.path().to_path_buf(),
            reap: true,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&serve_file)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && v["pid"].as_u64() == Some(u64::from(pid))
            {
                serve.url = v["url"].as_str().unwrap_or_default().to_string();
                return serve;
            }
            if let Some(Ok(Some(status))) = serve.child.as_mut().map(Child::try_wait) {
                panic!("gantry serve exited ({status}):\n{}", serve.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "gantry serve did not come up:\n{}",
                serve.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash would: instances are left behind as orphans.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a new control plane in place of this (killed) one, which hands its
    /// instances over instead of killing them as it goes.
    pub fn restart(&mut self, project: &TestProject) {
        let mut old = std::mem::replace(self, Serve::start(project));
        old.reap = false;
    }

    /// SIGTERM and wait: the control plane stops its instances itself.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `gantry ARGS` (with extra `env`) that should exit on its own, such as a `serve`
/// that is refused; if it still runs after `secs` it is killed and the test fails with what
/// it printed.
pub fn gantry_exits(project: &TestProject, args: &[&str], env: &[(&str, &str)], secs: u64) -> Run {
    use std::os::unix::process::CommandExt;
    let mut cmd = project.command(args);
    cmd.envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a serve that wrongly started goes with everything it spawned.
        .process_group(0);
    let mut child = cmd.spawn().expect("spawn gantry");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().expect("wait gantry").is_none() {
        if Instant::now() > deadline {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let out = child.wait_with_output().expect("wait gantry");
            panic!(
                "gantry {} still ran after {secs}s; stdout:\n{}\nstderr:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        output: child.wait_with_output().expect("wait gantry"),
    }
}

/// Process groups of every instance the project's ledger says was started.
pub fn instance_groups(project_root: &std::path::Path) -> Vec<i32> {
    let text =
        std::fs::read_to_string(project_root.join(".gantry/ledger.jsonl")).unwrap_or_default();
    let mut groups: Vec<i32> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            matches!(
                e["kind"].as_str(),
                Some("instance.started" | "instance.restarted")
            )
        })
        .filter_map(|e| e["body"]["pgid"].as_i64())
        .filter_map(|p| i32::try_from(p).ok())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// Whether any live (non-zombie) process is in group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.filter_map(Result::ok).any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        let Some(close) = stat.rfind(')') else {
            return false;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        fields.len() > 2 && fields[2] == pgid.to_string() && !matches!(fields[0], "Z" | "X")
    })
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
        if !self.reap {
            return;
        }
        // Whatever survived (a test that killed serve, or a failure mid-way) goes too.
        for pgid in instance_groups(&self.project_root) {
            if group_alive(pgid) {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
        }
    }
}
