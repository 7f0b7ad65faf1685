//! Which way an instance's `resources:` are enforced (a cgroup of its own where one can be
//! made, else rlimits, else nothing), the shell lines that put the instance under them, and
//! telling an out-of-memory death from any other exit.
//!
//! The instance's shell enters its limits itself, before it `exec`s the release's command
//! (`echo $$ > cgroup.procs`, `ulimit -v`): that is what `pre_exec` would do — the program
//! never runs a single instruction outside its limits, and nothing it forks escapes them —
//! without the `unsafe` that `pre_exec` needs and the workspace forbids. Moving the pid in
//! after spawn would leave a window in which the program runs unlimited.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::ExitStatus;

use gantry_deploy::{Enforcement, InstanceSpec, Limits};
use serde_json::{Value, json};

use crate::cgroup::{Cgroup, CgroupRoot};

/// What an instance's exit status is reported as when it ran out of memory.
pub(crate) const OOM_CGROUP: &str = "OOMKilled";
pub(crate) const OOM_RLIMIT: &str = "OOMKilled (rlimit)";

/// How far back in the instance's log an allocation failure is looked for.
const LOG_TAIL: u64 = 16 * 1024;

/// What runtimes print when an allocation fails (Rust's `handle_alloc_error`, glibc and C++,
/// CPython, Node, Go, the JVM).
const ALLOCATION_FAILED: &[&str] = &[
    "memory allocation of",
    "Cannot allocate memory",
    "std::bad_alloc",
    "MemoryError",
    "JavaScript heap out of memory",
    "runtime: out of memory",
    "OutOfMemoryError",
    "out of memory",
];

/// The limits one instance runs under, for all its restarts.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) enforcement: Enforcement,
    pub(crate) cgroup: Option<Cgroup>,
    /// Shell lines run before the command.
    pub(crate) prelude: String,
    /// What the `instance.started` entry says about them.
    pub(crate) detail: Value,
    limits: Limits,
}

/// `text` as one shell word.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A cgroup directory name from the service and instance ids (which come from config keys).
fn cgroup_name(service: &str, instance: &str) -> String {
    format!("{service}-{instance}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

const NO_CPU_RLIMIT: &str =
    "not enforced: no rlimit limits a CPU rate (RLIMIT_CPU only ends a process after a total)";

/// Puts `spec`'s limits in place as well as this machine allows.
pub(crate) fn apply(spec: &InstanceSpec) -> Applied {
    let limits = spec.limits;
    if limits.is_empty() {
        return Applied {
            enforcement: Enforcement::None,
            cgroup: None,
            prelude: String::new(),
            detail: json!({"mechanism": "none"}),
            limits,
        };
    }
    let cgroup = CgroupRoot::discover(&limits).and_then(|root| {
        root.create(&cgroup_name(&spec.service, &spec.instance), &limits)
            .map_err(|e| format!("cannot create the instance's cgroup: {e}"))
    });
    match cgroup {
        Ok(cg) => {
            let detail = json!({
                "mechanism": "cgroup",
                "cgroup": cg.dir.display().to_string(),
                "memory_max": limits.memory_bytes,
                "cpu_max": limits.cpu_millis.map(crate::cgroup::cpu_max),
            });
            Applied {
                enforcement: Enforcement::Cgroup,
                prelude: format!(
                    "echo $$ > {} || exit 125\n",
                    sh_quote(&cg.procs().display().to_string())
                ),
                cgroup: Some(cg),
                detail,
                limits,
            }
        }
        Err(why) => {
            tracing::info!(service = %spec.service, instance = %spec.instance, reason = %why, "no cgroup for the instance; using rlimits");
            let cpu = limits.cpu_millis.map(|_| NO_CPU_RLIMIT);
            match limits.memory_bytes {
                Some(bytes) => Applied {
                    enforcement: Enforcement::Rlimit,
                    cgroup: None,
                    // `ulimit -v` is RLIMIT_AS in KiB.
                    prelude: format!("ulimit -v {} || exit 125\n", (bytes / 1024).max(1)),
                    detail: json!({
                        "mechanism": "rlimit",
                        "memory": format!("RLIMIT_AS {bytes} bytes (address space, not resident memory)"),
                        "cpu": cpu,
                        "no_cgroup": why,
                    }),
                    limits,
                },
                None => Applied {
                    enforcement: Enforcement::None,
                    cgroup: None,
                    prelude: String::new(),
                    detail: json!({"mechanism": "none", "cpu": cpu, "no_cgroup": why}),
                    limits,
                },
            }
        }
    }
}

/// The OOM-kill count before a run, to compare after it.
pub(crate) fn oom_kills(applied: &Applied) -> u64 {
    applied.cgroup.as_ref().map_or(0, Cgroup::oom_kills)
}

/// The length of the log before a run, so that only this run's output is searched.
pub(crate) fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map_or(0, |m| m.len())
}

fn log_since(log: &Path, from: u64) -> String {
    let Ok(mut f) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = from.max(len.saturating_sub(LOG_TAIL));
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_ok() {
        let _ = f.take(LOG_TAIL).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// How an exit is reported: the OOM label when the instance ran out of memory (the cgroup's
/// OOM killer fired; or, under an address-space rlimit, the program said an allocation
/// failed), else the exit status.
pub(crate) fn classify(
    applied: &Applied,
    status: &ExitStatus,
    oom_before: u64,
    log: &Path,
    log_from: u64,
) -> (Option<&'static str>, String) {
    // Names the signal too: "signal: 6 (SIGABRT) (core dumped)".
    let plain = status.to_string();
    match applied.enforcement {
        Enforcement::Cgroup => {
            let after = oom_kills(applied);
            if after > oom_before {
                let why = format!(
                    "{OOM_CGROUP}: the kernel's OOM killer ended it at its memory limit of {} bytes (memory.events oom_kill {oom_before} → {after}; {plain})",
                    applied.limits.memory_bytes.unwrap_or_default()
                );
                return (Some(OOM_CGROUP), why);
            }
        }
        Enforcement::Rlimit => {
            let text = log_since(log, log_from);
            if let Some(said) = ALLOCATION_FAILED.iter().find(|m| text.contains(**m)) {
                let why = format!(
                    "{OOM_RLIMIT}: an allocation failed at its address-space limit of {} bytes (its output says \"{said}\"; {plain})",
                    applied.limits.memory_bytes.unwrap_or_default()
                );
                return (Some(OOM_RLIMIT), why);
            }
        }
        Enforcement::None => {}
    }
    (None, plain)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn applied(enforcement: Enforcement) -> Applied {
        Applied {
            enforcement,
            cgroup: None,
            prelude: String::new(),
            detail: Value::Null,
            limits: Limits {
                cpu_millis: None,
                memory_bytes: Some(1 << 20),
            },
        }
    }

    #[test]
    fn names_are_safe_directory_names() {
        assert_eq!(cgroup_name("web", "web-v1-3"), "web-web-v1-3");
        assert_eq!(cgroup_name("a/b", "x y"), "a_b-x_y");
        assert_eq!(sh_quote("/a b/it's"), r"'/a b/it'\''s'");
    }

    #[test]
    fn an_allocation_failure_in_this_run_is_an_oom_under_rlimit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("i.log");
        std::fs::write(
            &log,
            "memory allocation of 1 bytes failed (an earlier run)\n",
        )
        .unwrap();
        let from = log_len(&log);
        let abort = ExitStatus::from_raw(6); // killed by SIGABRT
        let (label, _) = classify(&applied(Enforcement::Rlimit), &abort, 0, &log, from);
        assert_eq!(label, None, "an earlier run's output does not count");
        std::fs::write(
            &log,
            "memory allocation of 1 bytes failed (an earlier run)\nlistening\nmemory allocation of 536870912 bytes failed\n",
        )
        .unwrap();
        let (label, why) = classify(&applied(Enforcement::Rlimit), &abort, 0, &log, from);
        assert_eq!(label, Some(OOM_RLIMIT));
        assert!(
            why.contains("SIGABRT") && why.contains("1048576 bytes"),
            "{why}"
        );
        // The same output without limits is just a crash.
        let (label, why) = classify(&applied(Enforcement::None), &abort, 0, &log, from);
        assert_eq!(label, None);
        assert!(why.contains("SIGABRT"), "{why}");
    }

    #[test]
    fn a_plain_exit_is_its_status() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("i.log");
        let (label, why) = classify(
            &applied(Enforcement::Rlimit),
            &ExitStatus::from_raw(1 << 8),
            0,
            &log,
            0,
        );
        assert_eq!((label, why.as_str()), (None, "exit status: 1"));
    }
}
