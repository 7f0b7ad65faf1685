//! Paths read back from ledger entries are never trusted: a step's log must be a file inside
//! its run's directory (`.gantry/runs/<run>/`), reached without `..`, without an absolute
//! path and without a symlink that leads out.

use std::path::{Component, Path, PathBuf};

/// The file `recorded` names, if it lies inside `run`'s directory under `root`; otherwise
/// why not (the caller names the entry).
pub fn confine(root: &Path, run: &str, recorded: &str) -> Result<PathBuf, String> {
    let run_dir = Path::new(".gantry").join("runs").join(run);
    let outside = || {
        format!(
            "'{recorded}' is not inside the run's directory {}",
            run_dir.display()
        )
    };
    let path = Path::new(recorded);
    if !path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(outside());
    }
    let rel = path.strip_prefix(&run_dir).map_err(|_| outside())?;
    if rel.as_os_str().is_empty() {
        return Err(outside());
    }
    let full = root.join(path);
    // Symlinks are resolved on both sides, so a link inside the run directory that points
    // elsewhere is caught as well as a run directory that is itself a link out.
    let real = full
        .canonicalize()
        .map_err(|e| format!("cannot read '{recorded}': {e}"))?;
    let real_dir = root
        .join(&run_dir)
        .canonicalize()
        .map_err(|e| format!("cannot read the run's directory {}: {e}", run_dir.display()))?;
    let gantry_dir = root
        .join(".gantry")
        .canonicalize()
        .map_err(|e| format!("cannot read .gantry: {e}"))?;
    if !real.starts_with(&real_dir) || !real_dir.starts_with(&gantry_dir) {
        return Err(format!(
            "'{recorded}' resolves to {}, outside the run's directory {}",
            real.display(),
            run_dir.display()
        ));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join(".gantry/runs/r1/build");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("01-test.log"), "ok\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no\n").unwrap();
        let root = dir.path().to_path_buf();
        (dir, root)
    }

    #[test]
    fn a_log_inside_the_run_directory_is_read() {
        let (_dir, root) = project();
        let got = confine(&root, "r1", ".gantry/runs/r1/build/01-test.log").unwrap();
        assert_eq!(std::fs::read_to_string(got).unwrap(), "ok\n");
    }

    #[test]
    fn absolute_parent_and_other_run_paths_are_refused() {
        let (_dir, root) = project();
        for bad in [
            "/etc/shadow",
            ".gantry/runs/r1/../../../secret.txt",
            ".gantry/runs/r2/build/01-test.log",
            "secret.txt",
            ".gantry/runs/r1",
            "",
        ] {
            let err = confine(&root, "r1", bad).unwrap_err();
            assert!(
                err.contains("not inside the run's directory"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_symlink_out_of_the_run_directory_is_refused() {
        let (_dir, root) = project();
        let link = root.join(".gantry/runs/r1/build/02-link.log");
        std::os::unix::fs::symlink(root.join("secret.txt"), &link).unwrap();
        let err = confine(&root, "r1", ".gantry/runs/r1/build/02-link.log").unwrap_err();
        assert!(err.contains("outside the run's directory"), "{err}");
    }
}
