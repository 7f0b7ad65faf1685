//! Where a program named without a slash is found on PATH, remembered for the rest of the
//! process as the shell's command hash does. Without it every spawn searches PATH inside
//! the vforked child by trying `execve` in each directory in turn, while gantry's thread
//! waits for the child to exec: eight failed `execve`s per `true` on a typical PATH.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

type Key = (String, OsString);

fn cache() -> &'static Mutex<HashMap<Key, PathBuf>> {
    static CACHE: OnceLock<Mutex<HashMap<Key, PathBuf>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The executable PROGRAM names on SEARCH (a PATH value). `None` leaves the search to the
/// spawn itself: PROGRAM has a slash, PATH has a relative entry (which depends on the
/// step's directory), or nothing executable is found (so the spawn reports it).
pub(crate) fn resolve(program: &str, search: &OsStr) -> Option<PathBuf> {
    if program.is_empty() || program.contains('/') {
        return None;
    }
    let key = (program.to_string(), search.to_os_string());
    if let Some(found) = cache().lock().ok()?.get(&key) {
        return Some(found.clone());
    }
    let mut found = None;
    for dir in std::env::split_paths(search) {
        if !dir.is_absolute() {
            return None;
        }
        let candidate = dir.join(program);
        let executable = std::fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            found = Some(candidate);
            break;
        }
    }
    let found = found?;
    if let Ok(mut cache) = cache().lock() {
        cache.insert(key, found.clone());
    }
    Some(found)
}

/// Forgets PROGRAM's place (it was removed since), so the next spawn searches again.
pub(crate) fn forget(program: &str, search: &OsStr) {
    if let Ok(mut cache) = cache().lock() {
        cache.remove(&(program.to_string(), search.to_os_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::{forget, resolve};
    use std::ffi::OsStr;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn finds_the_first_executable_on_path_and_remembers_it() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        // Not executable in a: skipped, as execvp would.
        std::fs::write(a.join("tool"), "").unwrap();
        std::fs::write(b.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(resolve("tool", &path), Some(b.join("tool")));
        std::fs::remove_file(b.join("tool")).unwrap();
        assert_eq!(resolve("tool", &path), Some(b.join("tool")), "remembered");
        forget("tool", &path);
        assert_eq!(resolve("tool", &path), None, "searched again");
        assert_eq!(resolve("missing", &path), None);
        assert_eq!(resolve("./tool", &path), None);
        assert_eq!(resolve("tool", OsStr::new("relative:/bin")), None);
    }
}
