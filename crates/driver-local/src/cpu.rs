//! CPU an instance has used, for scaling: the user + system time of every live process of
//! its process group, from `/proc/PID/stat`.
//!
//! Time of processes of the group that have already exited (and were not reaped by a
//! member) is not counted, so the total can step down; rates are clamped at zero by the
//! caller. The kernel reports these times in USER_HZ ticks, 100 per second on Linux.

use crate::process::{group_members, stat_fields};

const USER_HZ: f64 = 100.0;

/// utime and stime are fields 14 and 15 of `/proc/PID/stat`: 11 and 12 after the name.
fn ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU seconds used so far by the live processes of group `pgid`.
pub(crate) fn group_cpu_seconds(pgid: i32) -> Option<f64> {
    let members = group_members(pgid);
    if members.is_empty() {
        return None;
    }
    let total: u64 = members
        .iter()
        .filter_map(|p| u32::try_from(*p).ok().and_then(ticks))
        .sum();
    Some(total as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_the_cpu_this_group_burns() {
        let pgid = crate::process::pgid_of(std::process::id()).unwrap();
        let before = group_cpu_seconds(pgid).unwrap();
        // Burn until the reading moves (ticks are 10 ms), with a deadline generous for a
        // loaded machine: what is tested is that burning shows, not how fast.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut x = 0u64;
        loop {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            let now = group_cpu_seconds(pgid).unwrap();
            if now >= before + 0.05 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{before} → {now}");
        }
    }
}
