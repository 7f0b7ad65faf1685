//! One shell step as a process group: output to a timestamped, masked log; heartbeats;
//! timeout and stop kill the whole group, grandchildren included.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::watch;

use crate::mask::LineMasker;
use crate::running::{Claim, RunningGroups};
pub use crate::steplog::StepLog;

/// Longest line kept whole in a log; longer output is split (secrets still masked).
const MAX_LINE: usize = 64 * 1024;
/// After the step's own process exits, how long leftover writers may keep its pipes open.
const PIPE_GRACE: Duration = Duration::from_millis(300);
/// Between SIGTERM and SIGKILL on timeout or stop.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessEnd {
    /// Exit status (128 + signal for a signal).
    Exited(i32),
    TimedOut,
    /// Stopped by the run (budget or shutdown), with the reason.
    Stopped(String),
    SpawnFailed(String),
}

/// What a step's process needs.
pub struct ProcessSpec<'a> {
    pub command: &'a str,
    pub cwd: PathBuf,
    pub env: &'a BTreeMap<String, String>,
    pub timeout: Option<Duration>,
    /// Heartbeat period, file and label.
    pub heartbeat: Option<(Duration, PathBuf, String)>,
    /// Where the running group's id is kept while it runs, so that if gantry itself is
    /// killed, whoever finds the run interrupted can stop it.
    pub running: &'a RunningGroups,
}

/// Kills the group when dropped, so a cancelled step (run stopped, budget) leaves nothing;
/// then frees the group's slot in the run's record of running groups.
struct GroupGuard<'a> {
    pgid: Option<i32>,
    /// Dropped after the kill, so the slot stays claimed until the group is gone.
    _claim: Option<Claim<'a>>,
}

impl Drop for GroupGuard<'_> {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

fn append_heartbeat(path: &Path, label: &str, started: Instant) {
    let line = format!(
        "{} {label} running {}s\n",
        gantry_ledger::now_ts(),
        started.elapsed().as_secs()
    );
    if let Ok(mut f) =
        crate::rundir::no_follow(std::fs::OpenOptions::new().create(true).append(true)).open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Shell builtins and keywords: a command starting with one of these needs the shell.
const SH_WORDS: &[&str] = &[
    ".", ":", "alias", "break", "case", "cd", "command", "continue", "eval", "exec", "exit",
    "export", "for", "if", "read", "readonly", "return", "set", "shift", "source", "times", "trap",
    "ulimit", "umask", "unalias", "unset", "until", "wait", "while", "{", "!",
];

/// The argument vector of a command the shell would only split on spaces (no quoting,
/// expansion, redirection or builtins), so it can be executed without starting `sh` —
/// the same fast path make takes. `None`: run it through `sh -c`.
fn direct_argv(command: &str) -> Option<Vec<&str>> {
    let plain = command
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" -_./,:=+@%".contains(&b));
    let argv: Vec<&str> = command.split_ascii_whitespace().collect();
    let first = argv.first()?;
    // `NAME=value cmd` is an assignment the shell must handle.
    if !plain || SH_WORDS.contains(first) || first.contains('=') {
        return None;
    }
    Some(argv)
}

/// The command for ARGV (`None`: through `sh -c`), started as EXE when its place on PATH
/// is known, in its own process group with piped output.
fn command(spec: &ProcessSpec<'_>, argv: Option<&[&str]>, exe: Option<&Path>) -> Command {
    let (name, args): (&str, Vec<&str>) = match argv {
        Some(argv) => (argv[0], argv[1..].to_vec()),
        None => ("sh", vec!["-c", spec.command]),
    };
    let mut cmd = match exe {
        Some(exe) => {
            let mut cmd = Command::new(exe);
            // The program sees the name it was called by, as after a PATH search.
            cmd.arg0(name);
            cmd
        }
        None => Command::new(name),
    };
    cmd.args(args)
        .current_dir(&spec.cwd)
        .envs(spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// Runs COMMAND (through `sh -c` unless it is a plain argument list) in its own process
/// group. `on_line` sees each masked output line
/// (for live views).
pub async fn run_process(
    spec: ProcessSpec<'_>,
    log: &StepLog,
    stop: &mut watch::Receiver<Option<String>>,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> ProcessEnd {
    let argv = direct_argv(spec.command);
    let program = argv.as_ref().map_or("sh", |a| a[0]);
    let search = spec
        .env
        .get("PATH")
        .map(OsString::from)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    let exe = crate::which::resolve(program, &search);
    let mut spawned = command(&spec, argv.as_deref(), exe.as_deref()).spawn();
    if exe.is_some()
        && spawned
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::NotFound)
    {
        // Removed since it was found: search again, as the shell does after `hash -r`.
        crate::which::forget(program, &search);
        spawned = command(&spec, argv.as_deref(), None).spawn();
    }
    let mut child = match spawned {
        Ok(child) => child,
        // Like the shell: a command that is not found exits 127.
        Err(e) if e.kind() == ErrorKind::NotFound => {
            log.note(&format!("{}: command not found", spec.command));
            return ProcessEnd::Exited(127);
        }
        Err(e) => return ProcessEnd::SpawnFailed(format!("cannot start `{}`: {e}", spec.command)),
    };
    let pgid = child.id().map(|p| p as i32);
    let claim = pgid.and_then(|p| spec.running.claim(p));
    let _guard = GroupGuard {
        pgid,
        _claim: claim,
    };
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        return ProcessEnd::SpawnFailed("no pipes".into());
    };
    let started = Instant::now();
    let mut out_lines = LineMasker::new(log.masker().clone(), MAX_LINE);
    let mut err_lines = LineMasker::new(log.masker().clone(), MAX_LINE);
    let (mut out_open, mut err_open) = (true, true);
    let (mut buf_out, mut buf_err) = (vec![0u8; 8192], vec![0u8; 8192]);
    let far = Duration::from_secs(86400 * 365);
    let deadline = tokio::time::Instant::now() + spec.timeout.unwrap_or(far);
    let mut kill_at: Option<tokio::time::Instant> = None;
    let mut ending: Option<ProcessEnd> = None;
    let mut status: Option<i32> = None;
    let hb_period = spec
        .heartbeat
        .as_ref()
        .map_or(far, |h| h.0.max(Duration::from_millis(100)));
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + hb_period, hb_period);
    let mut pipes_until: Option<tokio::time::Instant> = None;
    let mut stop_open = true;

    loop {
        if status.is_some()
            && ((!out_open && !err_open)
                || pipes_until.is_some_and(|t| t <= tokio::time::Instant::now()))
        {
            break;
        }
        tokio::select! {
            n = out.read(&mut buf_out), if out_open => match n {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => for line in out_lines.feed(&buf_out[..n]) { log.write_masked("stdout", &line); on_line(&line); },
            },
            n = err.read(&mut buf_err), if err_open => match n {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => for line in err_lines.feed(&buf_err[..n]) { log.write_masked("stderr", &line); on_line(&line); },
            },
            st = child.wait(), if status.is_none() => {
                status = Some(match st {
                    Ok(s) => s.code().unwrap_or_else(|| {
                        use std::os::unix::process::ExitStatusExt;
                        128 + s.signal().unwrap_or(0)
                    }),
                    Err(_) => -1,
                });
                pipes_until = Some(tokio::time::Instant::now() + PIPE_GRACE);
            },
            _ = tokio::time::sleep_until(deadline), if ending.is_none() && spec.timeout.is_some() => {
                ending = Some(ProcessEnd::TimedOut);
                if let Some(pgid) = pgid { let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM); }
                kill_at = Some(tokio::time::Instant::now() + KILL_GRACE);
            },
            changed = stop.changed(), if stop_open && ending.is_none() => {
                match changed {
                    Ok(()) => if let Some(reason) = stop.borrow().clone() {
                        ending = Some(ProcessEnd::Stopped(reason));
                        if let Some(pgid) = pgid { let _ = killpg(Pid::from_raw(pgid), Signal::SIGTERM); }
                        kill_at = Some(tokio::time::Instant::now() + KILL_GRACE);
                    },
                    Err(_) => stop_open = false,
                }
            },
            _ = tokio::time::sleep_until(kill_at.unwrap_or(deadline)), if kill_at.is_some() => {
                if let Some(pgid) = pgid { let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL); }
                kill_at = None;
            },
            _ = tokio::time::sleep_until(pipes_until.unwrap_or(deadline)), if pipes_until.is_some() => {},
            _ = heartbeat.tick(), if spec.heartbeat.is_some() => {
                if let Some((_, path, label)) = &spec.heartbeat { append_heartbeat(path, label, started); }
            },
        }
    }
    for (lines, stream) in [(&mut out_lines, "stdout"), (&mut err_lines, "stderr")] {
        if let Some(rest) = lines.finish() {
            log.write_masked(stream, &rest);
            on_line(&rest);
        }
    }
    // _guard kills whatever is left of the group (background grandchildren).
    ending.unwrap_or(ProcessEnd::Exited(status.unwrap_or(-1)))
}

#[cfg(test)]
mod tests {
    use super::direct_argv;

    #[test]
    fn plain_commands_skip_the_shell() {
        assert_eq!(direct_argv("true"), Some(vec!["true"]));
        assert_eq!(direct_argv("sleep 1"), Some(vec!["sleep", "1"]));
        assert_eq!(
            direct_argv("cargo test -p x"),
            Some(vec!["cargo", "test", "-p", "x"])
        );
        for cmd in [
            "exit 3",
            "echo $HOME",
            "a && b",
            "echo 'x'",
            "FOO=1 env",
            "cd /tmp",
            "a > f",
            "",
            "x *",
        ] {
            assert_eq!(direct_argv(cmd), None, "{cmd}");
        }
    }
}
