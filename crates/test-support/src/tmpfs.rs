//! A tmpfs mounted for one test (a small disk, or a read-only copy of a project), unmounted
//! on drop. Mounting needs privileges a developer's machine may not grant: then the test is
//! skipped with a printed reason, except under CI, where a skip would hide a missing check.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `256k`) on `dir` (created if missing). `None` when
    /// mounting is not allowed here and `CI` is unset; panics under CI.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        let why = match out {
            Ok(o) if o.status.success() => {
                return Some(Tmpfs {
                    dir: dir.to_path_buf(),
                });
            }
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => format!("cannot run mount: {e}"),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but a tmpfs cannot be mounted on {}: {why}",
            dir.display()
        );
        eprintln!(
            "SKIPPED: mounting a tmpfs on {} is not allowed here ({why})",
            dir.display()
        );
        None
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Makes the file system read-only from now on.
    pub fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {} read-only", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so a process still holding a file there cannot keep the mount alive.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
