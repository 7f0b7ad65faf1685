//! Whether the process that recorded a run is still that process. A pid alone is not
//! enough: after gantry dies the kernel may hand its pid to an unrelated process, so the
//! run also records the process's start time (`/proc/<pid>/stat` field 22, clock ticks
//! since boot) and a pid whose start time differs is a different process.

/// Host name recorded with the pid, so liveness is only judged on the same machine.
#[must_use]
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether a process with this pid exists here (signal 0 checks without sending).
#[must_use]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw == 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// The start time of process `pid` in clock ticks since boot, where `/proc` has it (Linux).
#[must_use]
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 (`starttime`) of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last `)`.
#[must_use]
pub fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: field 22 is the 20th of them.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Whether the run recorded as (`pid`, `start`) still runs here. With no recorded start
/// time (runs recorded before it was kept, or no `/proc`) only the pid is checked; when the
/// start time cannot be read now but the pid exists, the process is presumed alive, since
/// wrongly marking a live run interrupted would kill its steps.
#[must_use]
pub fn run_alive(pid: u32, start: Option<u64>) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    match (start, process_start_time(pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (gantry) S 1 4242 4242 0 -1 4194560 1260 0 0 0 3 1 0 0 20 0 3 0 \
                        987654 12345678 900 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn field_22_is_the_start_time() {
        assert_eq!(parse_start_time(STAT), Some(987_654));
    }

    #[test]
    fn names_with_spaces_and_parentheses() {
        let odd = STAT.replace("(gantry)", "(my (odd) name) x)");
        assert_eq!(parse_start_time(&odd), Some(987_654));
    }

    #[test]
    fn bad_input_is_none_not_a_panic() {
        for bad in [
            "",
            "4242",
            "4242 (gantry",
            "4242 (gantry) S 1 2",
            "1 (x) S a b c d e f g h i j k l m n o p q r s t",
        ] {
            assert_eq!(parse_start_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn this_process() {
        let me = std::process::id();
        let start = process_start_time(me);
        assert!(start.is_some(), "Linux has /proc/self/stat");
        assert!(run_alive(me, start));
        assert!(
            !run_alive(me, start.map(|s| s + 1)),
            "another start time is another process"
        );
        assert!(run_alive(me, None));
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!run_alive(pid, None));
        assert!(!pid_alive(0));
    }
}
