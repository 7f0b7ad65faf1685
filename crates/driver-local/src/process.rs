//! Process groups: spawning an instance in its own group, signalling and reaping the whole
//! group, and recognising a previous control plane's orphans by their `GANTRY_INSTANCE`.
//!
//! Liveness of a group is read from `/proc` so that zombies (already dead, waiting for a
//! parent that is not us) do not count as running.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use gantry_deploy::InstanceSpec;

/// Marker variable every instance gets; its value is the instance id.
pub const INSTANCE_VAR: &str = "GANTRY_INSTANCE";

/// Whether `line` is one simple command, which the shell may `exec` (so the instance's pid
/// is the program's own and no shell lingers).
fn is_simple(line: &str) -> bool {
    !line.chars().any(|c| {
        matches!(
            c,
            ';' | '&' | '|' | '\n' | '(' | ')' | '`' | '<' | '>' | '$'
        )
    }) && !line.trim_start().starts_with("exec ")
}

/// Starts `spec` on `port` in a new process group, output appended to files in its log dir;
/// the shell runs `prelude` (lines that put it under its resource limits) first.
pub fn spawn(
    spec: &InstanceSpec,
    port: u16,
    prelude: &str,
) -> std::io::Result<(Child, std::path::PathBuf)> {
    fs::create_dir_all(&spec.log_dir)?;
    let log = spec.log_dir.join(format!("{}.log", spec.instance));
    // A restart starts over a bounded file; `logfile::keep_bounded` keeps it so meanwhile.
    crate::logfile::rotate_if_over(&log, crate::logfile::MAX_BYTES)?;
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)?;
    let err = out.try_clone()?;
    let line = spec.command.replace("{port}", &port.to_string());
    let line = if is_simple(&line) {
        format!("{prelude}exec {line}")
    } else {
        format!("{prelude}{line}")
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(line)
        .envs(&spec.env)
        .env("PORT", port.to_string())
        .env(INSTANCE_VAR, &spec.instance)
        .env("GANTRY_SERVICE", &spec.service)
        .env("GANTRY_VERSION", &spec.version)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        // Last resort if the supervisor is dropped without stopping the instance.
        .kill_on_drop(true);
    Ok((cmd.spawn()?, log))
}

/// Sends `signal` to every process of group `pgid`; a group already gone is fine.
pub fn signal_group(pgid: i32, signal: Signal) {
    if pgid > 1 {
        let _ = killpg(Pid::from_raw(pgid), signal);
    }
}

/// Fields of `/proc/PID/stat` after the command name (which may hold spaces and
/// parentheses, so parsing starts after the last ')'): state is [0], pgrp [2], starttime [19].
pub(crate) fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` is a running (non-zombie) process.
pub fn process_alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| !matches!(s.as_str(), "Z" | "X")))
}

/// When `pid` started, in clock ticks since boot: with the pid, it names one process for
/// the machine's uptime (a recycled pid has a later start time).
pub fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// The process group of `pid`.
pub fn pgid_of(pid: u32) -> Option<i32> {
    stat_fields(pid)?.get(2)?.parse().ok()
}

/// The value of `name` in the environment `pid` started with.
pub fn env_var(pid: u32, name: &str) -> Option<String> {
    let env = fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{name}=");
    env.split(|b| *b == 0)
        .find_map(|kv| kv.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// (pid, state, pgrp) of each process in /proc.
fn processes() -> Vec<(i32, char, i32)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(e.path().join("stat")).ok()?;
        // The command name may hold spaces and parentheses: parse after the last ')'.
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let _ppid = fields.next()?;
        let pgrp: i32 = fields.next()?.parse().ok()?;
        Some((pid, state, pgrp))
    })
    .collect()
}

/// Live (non-zombie) processes of group `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|(_, state, pgrp)| *pgrp == pgid && !matches!(state, 'Z' | 'X'))
        .map(|(pid, _, _)| pid)
        .collect()
}

pub fn group_alive(pgid: i32) -> bool {
    !group_members(pgid).is_empty()
}

/// SIGTERM to the group, up to `grace` for it to exit, then SIGKILL.
pub async fn terminate_group(pgid: i32, grace: Duration) {
    signal_group(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while group_alive(pgid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if group_alive(pgid) {
        signal_group(pgid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(2);
        while group_alive(pgid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn has_marker(pid: i32, instance: &str) -> bool {
    let Ok(env) = fs::read(Path::new("/proc").join(pid.to_string()).join("environ")) else {
        return false;
    };
    let want = format!("{INSTANCE_VAR}={instance}");
    env.split(|b| *b == 0).any(|kv| kv == want.as_bytes())
}

/// What became of an orphan left by a previous control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphan {
    /// Nothing of the group is running any more.
    Gone,
    /// The group is running something that is not this instance (the id was reused): left
    /// alone.
    NotOurs,
    /// Killed.
    Killed,
}

/// Kills group `pgid` if one of its processes is instance `instance` (checked by its
/// environment, so a recycled pid is never killed by mistake).
pub async fn kill_orphan(pgid: i32, instance: &str) -> Orphan {
    let members = group_members(pgid);
    if members.is_empty() {
        return Orphan::Gone;
    }
    if !members.iter().any(|pid| has_marker(*pid, instance)) {
        return Orphan::NotOurs;
    }
    terminate_group(pgid, Duration::from_secs(3)).await;
    Orphan::Killed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_commands_are_execed() {
        assert!(is_simple("demo-app --port 8080 --version v1"));
        assert!(!is_simple("a && b"));
        assert!(!is_simple("echo $HOME"));
        assert!(!is_simple("exec a"));
    }
}
