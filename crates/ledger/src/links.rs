//! Where a path that may be a symlink leads, judged against a directory it must stay in:
//! the one rule the run directories and the keys directory apply, each with its own
//! message. A planted link must not choose where evidence is written or which keys sign.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Link {
    /// Missing, or not a symlink: nothing to judge here.
    NotALink,
    /// A symlink that resolves inside the root.
    Inside,
    /// A symlink to `target` (as written) that resolves to `resolved`, outside the root.
    Outside { target: PathBuf, resolved: PathBuf },
    /// A symlink to `target` that does not resolve.
    Dangling { target: PathBuf, error: io::Error },
}

/// Classifies `path` against `real_root`, which must already be canonical.
pub fn classify(path: &Path, real_root: &Path) -> io::Result<Link> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Link::NotALink),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_symlink() {
        return Ok(Link::NotALink);
    }
    let target = std::fs::read_link(path)?;
    Ok(match path.canonicalize() {
        Ok(resolved) if resolved.starts_with(real_root) => Link::Inside,
        Ok(resolved) => Link::Outside { target, resolved },
        Err(error) => Link::Dangling { target, error },
    })
}
