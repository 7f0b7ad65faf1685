//! One control plane per project: `gantry serve` holds an exclusive lock on
//! `.gantry/serve.lock` for as long as it runs, taken before it opens the ledger. The kernel
//! releases the lock when the process dies, however it dies, so a restart after SIGKILL
//! takes it at once; a second `serve` while one runs is refused before it reads or writes
//! anything else.
//!
//! The file holds `{"pid": …, "api": …}` of the holder so a refused start can name it. The
//! file itself is never removed: unlinking a lock file lets a process that opened the old
//! inode and one that creates a new one both "hold" the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::ServerError;

pub const LOCK_FILE: &str = "serve.lock";

/// The control plane that holds the lock, as its lock file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    /// `http://ADDR` once its API is bound; `None` while it is still starting.
    pub api: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => f.write_str("pid unknown")?,
        }
        match &self.api {
            Some(api) => write!(f, ", API on {api}"),
            None => f.write_str(", API not bound yet (still starting)"),
        }
    }
}

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct ServeLock {
    file: File,
    path: PathBuf,
}

impl ServeLock {
    /// Takes the lock in `gantry_dir`, or says who holds it.
    pub fn acquire(gantry_dir: &Path) -> Result<ServeLock, ServerError> {
        let (file, path) = open(gantry_dir)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(ServerError::AlreadyServing {
                    holder: read_holder(&path),
                    lock: path,
                });
            }
            Err(TryLockError::Error(source)) => return Err(ServerError::Lock { path, source }),
        }
        let lock = ServeLock { file, path };
        lock.describe(None)?;
        Ok(lock)
    }

    /// Refuses if another control plane holds the lock, without keeping it (for `serve
    /// --detach`, whose child takes it for real).
    pub fn check(gantry_dir: &Path) -> Result<(), ServerError> {
        let (file, path) = open(gantry_dir)?;
        match file.try_lock() {
            Ok(()) => Ok(()),
            Err(TryLockError::WouldBlock) => Err(ServerError::AlreadyServing {
                holder: read_holder(&path),
                lock: path,
            }),
            Err(TryLockError::Error(source)) => Err(ServerError::Lock { path, source }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the API address once it is bound.
    pub fn set_api(&self, addr: SocketAddr) -> Result<(), ServerError> {
        self.describe(Some(addr))
    }

    fn describe(&self, api: Option<SocketAddr>) -> Result<(), ServerError> {
        let text = format!(
            "{}\n",
            json!({"pid": std::process::id(), "api": api.map(|a| format!("http://{a}"))})
        );
        let io = |source| ServerError::Lock {
            path: self.path.clone(),
            source,
        };
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        // One write, then cut what a longer earlier text left behind: a reader sees the old
        // text, the new one, or (rarely) a mix that does not parse and makes it read again.
        file.write_all(text.as_bytes()).map_err(io)?;
        file.set_len(text.len() as u64).map_err(io)?;
        Ok(())
    }
}

fn open(gantry_dir: &Path) -> Result<(File, PathBuf), ServerError> {
    let path = gantry_dir.join(LOCK_FILE);
    // Writing through a symlink would truncate whatever it points at.
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(ServerError::Lock {
            source: std::io::Error::other(
                "it is a symbolic link; remove it (gantry creates a plain file there)",
            ),
            path,
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| ServerError::Lock {
            path: path.clone(),
            source,
        })?;
    Ok((file, path))
}

/// What the holder wrote into the lock file; retried briefly in case it is mid-update.
fn read_holder(path: &Path) -> Holder {
    let mut last = Holder {
        pid: None,
        api: None,
    };
    for _ in 0..10 {
        let mut text = String::new();
        let parsed = File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .ok()
            .and_then(|_| serde_json::from_str::<Value>(&text).ok());
        if let Some(v) = parsed {
            last = Holder {
                pid: v["pid"].as_u64().and_then(|p| u32::try_from(p).ok()),
                api: v["api"].as_str().map(str::to_string),
            };
            // Still starting: its address may appear in a moment.
            if last.api.is_some() {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "gantry-lock-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_second_lock_names_the_holder_and_is_free_once_the_first_is_dropped() {
        let d = dir();
        let first = ServeLock::acquire(&d).unwrap();
        first.set_api("127.0.0.1:4321".parse().unwrap()).unwrap();
        // A second open file description conflicts even within one process (flock).
        let err = ServeLock::acquire(&d).unwrap_err();
        let ServerError::AlreadyServing { holder, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(holder.pid, Some(std::process::id()));
        assert_eq!(holder.api.as_deref(), Some("http://127.0.0.1:4321"));
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id()))
                && text.contains("http://127.0.0.1:4321"),
            "{text}"
        );
        assert!(ServeLock::check(&d).is_err());
        drop(first);
        ServeLock::check(&d).unwrap();
        let again = ServeLock::acquire(&d).unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert!(text.contains("\"api\":null"), "{text}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_symlinked_lock_file_is_refused() {
        let d = dir();
        let target = d.join("elsewhere");
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, d.join(LOCK_FILE)).unwrap();
        let err = ServeLock::acquire(&d).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        let _ = std::fs::remove_dir_all(&d);
    }
}
