//! Allowed tools (`budget.tools`): a per-run `bin/` directory of symlinks to exactly those
//! programs and the shell, which becomes the steps' whole PATH. It narrows what a step
//! finds by name; it is not a sandbox (a step may still call a program by its path).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::PipelineError;

/// The shell every step may use (`run:` lines that need one go through `sh -c`).
const SHELL: &str = "sh";

/// Makes `<run_dir>/bin` with a symlink per tool, found on `search` (a PATH value), and
/// returns it. A tool not found is refused before anything runs.
pub(crate) fn prepare_bin(
    run_dir: &Path,
    tools: &[String],
    search: &OsString,
) -> Result<PathBuf, PipelineError> {
    let bin = run_dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(crate::error::io_err(&bin))?;
    let mut names: Vec<&str> = tools.iter().map(String::as_str).collect();
    if !names.contains(&SHELL) {
        names.push(SHELL);
    }
    for name in names {
        let target = find(name, search).ok_or_else(|| PipelineError::ToolNotFound {
            tool: name.to_string(),
        })?;
        let link = bin.join(name);
        // A resumed run makes the directory again: the links may exist already.
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).map_err(crate::error::io_err(&link))?;
    }
    Ok(bin)
}

fn find(name: &str, search: &OsString) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(search)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
