//! Which process groups a run has running, kept in `<run>/running` so that if gantry itself
//! is killed, whoever finds the run interrupted can stop them (`kill_leftovers`).
//!
//! The file is a row of fixed-width slots, `"%11d\n"` for a running group and blanks for a
//! free one; a step claims a slot with one positioned write and frees it with another.
//! A file per group, created and unlinked around every step, cost far more than the
//! writes: ext4 looks past each recently deleted inode when it allocates the next one (the
//! step's own log), so a run of many short steps paid more per step the longer it ran.
//! A 12-byte write within one page is whole or absent after the writer is killed.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const SLOT: usize = 12;
const FREE: &[u8; SLOT] = b"           \n";

pub struct RunningGroups {
    path: PathBuf,
    inner: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    file: Option<File>,
    used: Vec<bool>,
}

/// A claimed slot; freed (blanked) when dropped.
pub struct Claim<'a> {
    groups: &'a RunningGroups,
    slot: usize,
}

impl RunningGroups {
    /// The registry at PATH; the file is made when the first group starts.
    pub fn new(path: PathBuf) -> RunningGroups {
        RunningGroups {
            path,
            inner: Mutex::new(Slots::default()),
        }
    }

    fn open(&self) -> std::io::Result<File> {
        // A run interrupted under an older gantry kept one file per group in a directory
        // here; its groups were killed when the run was found interrupted.
        if self.path.is_dir() {
            std::fs::remove_dir_all(&self.path)?;
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Whatever an earlier attempt left was dealt with before this one could start.
        crate::rundir::no_follow(OpenOptions::new().create(true).write(true).truncate(true))
            .open(&self.path)
    }

    /// Records PGID as running until the claim is dropped. `None` if it could not be
    /// recorded: the step still runs, as it did before this bookkeeping existed.
    pub fn claim(&self, pgid: i32) -> Option<Claim<'_>> {
        let mut slots = self.inner.lock().ok()?;
        if slots.file.is_none() {
            slots.file = Some(self.open().ok()?);
        }
        let slot = match slots.used.iter().position(|used| !used) {
            Some(free) => free,
            None => {
                slots.used.push(false);
                slots.used.len() - 1
            }
        };
        let record = format!("{pgid:>11}\n");
        let file = slots.file.as_ref()?;
        file.write_all_at(record.as_bytes(), (slot * SLOT) as u64)
            .ok()?;
        slots.used[slot] = true;
        Some(Claim { groups: self, slot })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.groups.inner.lock() {
            if let Some(file) = &slots.file {
                let _ = file.write_all_at(FREE, (self.slot * SLOT) as u64);
            }
            slots.used[self.slot] = false;
        }
    }
}

/// The process groups recorded as running at PATH (either layout).
fn recorded(path: &Path) -> Vec<i32> {
    let parse = |s: &str| s.trim().parse::<i32>().ok().filter(|&pgid| pgid > 1);
    if path.is_dir() {
        let Ok(dir) = std::fs::read_dir(path) else {
            return Vec::new();
        };
        return dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(parse))
            .collect();
    }
    std::fs::read_to_string(path)
        .map(|text| text.lines().filter_map(parse).collect())
        .unwrap_or_default()
}

/// Kills the process groups an interrupted run left running (recorded at `running`) and
/// clears the record; returns how many were still there to kill.
pub fn kill_leftovers(running: &Path) -> usize {
    // A record reached through a planted link names groups that are not the run's, and
    // clearing it would truncate whatever the link points at.
    if !crate::rundir::confined_file(running) {
        return 0;
    }
    let mut killed = 0;
    for pgid in recorded(running) {
        if killpg(Pid::from_raw(pgid), Signal::SIGKILL).is_ok() {
            killed += 1;
        }
    }
    if running.is_dir() {
        let _ = std::fs::remove_dir_all(running);
    } else if running.exists() {
        let _ = std::fs::write(running, b"");
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::{RunningGroups, recorded};

    #[test]
    fn slots_are_claimed_freed_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/running");
        let groups = RunningGroups::new(path.clone());
        let a = groups.claim(1001).unwrap();
        let b = groups.claim(1002).unwrap();
        assert_eq!(recorded(&path), vec![1001, 1002]);
        drop(a);
        assert_eq!(recorded(&path), vec![1002]);
        let c = groups.claim(1003).unwrap();
        assert_eq!(c.slot, 0, "the freed slot is reused");
        assert_eq!(recorded(&path), vec![1003, 1002]);
        drop((b, c));
        assert_eq!(recorded(&path), Vec::<i32>::new());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            24,
            "fixed-width slots"
        );
    }

    #[test]
    fn reads_the_older_layout_and_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("running");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("4242"), "").unwrap();
        assert_eq!(recorded(&path), vec![4242]);
        let groups = RunningGroups::new(path.clone());
        let claim = groups.claim(77).unwrap();
        assert!(path.is_file());
        assert_eq!(recorded(&path), vec![77]);
        drop(claim);
    }
}
