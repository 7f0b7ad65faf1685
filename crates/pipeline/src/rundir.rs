//! A run's directory, `.gantry/runs/<run>`, kept inside `.gantry/`: `runs` or the run
//! directory may be a symlink only to somewhere inside `.gantry/`, a stage's log directory
//! may not be one at all, and the files a run writes there are opened without following a
//! symlink. A cloned repository, a restored backup or an earlier step could have planted a
//! link; a run writes logs, its manifest and its running process groups through these
//! paths, and a resumed run or `gantry runs` reads the groups back to kill them.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use gantry_ledger::links::{Link, classify};

use crate::error::{PipelineError, io_err};

/// Makes (or, resuming, finds) RUN's directory under `<root>/.gantry/runs`; refuses before
/// writing anything when `runs` or the run directory leads outside `.gantry/`.
pub(crate) fn prepare(root: &Path, run: &str) -> Result<PathBuf, PipelineError> {
    let gantry = root.join(".gantry");
    let real_gantry = gantry.canonicalize().map_err(io_err(&gantry))?;
    let runs = gantry.join("runs");
    confine(&runs, &real_gantry)?;
    match std::fs::create_dir(&runs) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_err(&runs)(e)),
        Err(_) => {}
        Ok(()) => gantry_ledger::durable::sync_dir(&gantry).map_err(io_err(&gantry))?,
    }
    let dir = runs.join(run);
    confine(&dir, &real_gantry)?;
    if !dir.is_dir() {
        // The ledger will name files in here (the manifest, logs): the directory's own
        // name must survive a crash as the entries do.
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        gantry_ledger::durable::sync_dir(&runs).map_err(io_err(&runs))?;
    }
    Ok(dir)
}

/// Refuses PATH if it is a symlink that does not resolve to somewhere inside
/// `real_gantry`. A missing path or a real directory passes (its parent was checked).
fn confine(path: &Path, real_gantry: &Path) -> Result<(), PipelineError> {
    let reason = match classify(path, real_gantry).map_err(io_err(path))? {
        Link::NotALink | Link::Inside => return Ok(()),
        Link::Outside { resolved, .. } => format!(
            "it is a symlink to {}, outside {}; a run writes its logs and evidence there, so remove the link or point it inside .gantry/",
            resolved.display(),
            real_gantry.display()
        ),
        Link::Dangling { target, error } => format!(
            "it is a symlink to {}, which does not resolve ({error}); remove the link",
            target.display()
        ),
    };
    Err(PipelineError::RunDirRefused {
        path: path.to_path_buf(),
        reason,
    })
}

/// Refuses a stage's log directory that is a symlink (nothing gantry makes is one).
pub(crate) fn check_stage_dir(dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => Err(format!(
            "{} is a symlink; step logs are not written through one (remove it)",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Whether the run directory holding `file` (`.gantry/runs/<run>/<file>`) passes the
/// same rule, and `file` itself is not a symlink: for readers that act on what they find.
pub(crate) fn confined_file(file: &Path) -> bool {
    let Some(dir) = file.parent() else {
        return false;
    };
    let Some(gantry) = dir.parent().and_then(Path::parent) else {
        return false;
    };
    let Ok(real_gantry) = gantry.canonicalize() else {
        return false;
    };
    let file_ok = std::fs::symlink_metadata(file).map_or(true, |m| !m.file_type().is_symlink());
    file_ok
        && confine(&gantry.join("runs"), &real_gantry).is_ok()
        && confine(dir, &real_gantry).is_ok()
}

/// OPTIONS that refuse to open the last component through a symlink (`ELOOP`).
pub(crate) fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    options.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".gantry")).unwrap();
        dir
    }

    #[test]
    fn plain_and_inside_links_are_fine() {
        let p = project();
        let dir = prepare(p.path(), "r1").unwrap();
        assert!(dir.is_dir());
        assert_eq!(
            prepare(p.path(), "r1").unwrap(),
            dir,
            "a resumed run finds it"
        );
        // runs -> a directory inside .gantry is allowed.
        let q = project();
        std::fs::create_dir(q.path().join(".gantry/runs-store")).unwrap();
        symlink("runs-store", q.path().join(".gantry/runs")).unwrap();
        prepare(q.path(), "r1").unwrap();
        assert!(q.path().join(".gantry/runs-store/r1").is_dir());
    }

    #[test]
    fn links_out_of_gantry_are_refused_before_writing() {
        let outside = tempfile::tempdir().unwrap();
        let p = project();
        symlink(outside.path(), p.path().join(".gantry/runs")).unwrap();
        let err = prepare(p.path(), "r1").unwrap_err().to_string();
        assert!(err.contains("symlink") && err.contains("outside"), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

        let q = project();
        std::fs::create_dir(q.path().join(".gantry/runs")).unwrap();
        symlink(outside.path(), q.path().join(".gantry/runs/r1")).unwrap();
        let err = prepare(q.path(), "r1").unwrap_err().to_string();
        assert!(err.contains(".gantry/runs/r1"), "{err}");
        assert!(!confined_file(&q.path().join(".gantry/runs/r1/running")));

        symlink("/nonexistent/x", q.path().join(".gantry/runs/r2")).unwrap();
        let err = prepare(q.path(), "r2").unwrap_err().to_string();
        assert!(err.contains("does not resolve"), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn files_and_stage_dirs_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        std::fs::write(&target, "keep").unwrap();
        let p = project();
        let dir = prepare(p.path(), "r1").unwrap();
        symlink(&target, dir.join("running")).unwrap();
        assert!(!confined_file(&dir.join("running")));
        let err = no_follow(OpenOptions::new().write(true).truncate(true))
            .open(dir.join("running"))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::ELOOP));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(confined_file(&dir.join("heartbeat.log")));

        symlink(outside.path(), dir.join("build")).unwrap();
        assert!(check_stage_dir(&dir.join("build")).is_err());
        assert!(check_stage_dir(&dir.join("test")).is_ok());
    }
}
