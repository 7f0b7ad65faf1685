//! A step's log: `<RFC 3339 UTC> <stdout|stderr|gantry> <line>` per line, masked, with the
//! SHA-256 of its bytes kept as they are written, so recording the step's end needs no
//! second pass over the file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::mask::Masker;

pub struct StepLog {
    inner: Mutex<Inner>,
    masker: Masker,
}

struct Inner {
    file: File,
    /// Hash of every byte in the file so far; `None` once a write failed part way, after
    /// which only reading the file back tells what it holds.
    hash: Option<Sha256>,
    /// The first write that failed (a full disk, say): the log is cut from there on.
    error: Option<String>,
}

impl StepLog {
    /// Opens (or continues, on a retry or resume) the log at PATH, creating its directory
    /// only when it is missing: most steps of a stage share one that already exists.
    pub fn open(path: &Path, masker: Masker) -> io::Result<StepLog> {
        let options = {
            let mut o = OpenOptions::new();
            // A planted link (a resumed run's directory came from elsewhere) is not
            // followed: the log would be appended to whatever it points at.
            crate::rundir::no_follow(o.create(true).append(true).read(true));
            o
        };
        let mut file = match options.open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                options.open(path)?
            }
            other => other?,
        };
        let mut hash = Sha256::new();
        // A resumed or retried run appends to what an earlier attempt wrote.
        if file.metadata()?.len() > 0 {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match file.read(&mut buf)? {
                    0 => break,
                    n => hash.update(&buf[..n]),
                }
            }
        }
        Ok(StepLog {
            inner: Mutex::new(Inner {
                file,
                hash: Some(hash),
                error: None,
            }),
            masker,
        })
    }

    /// Writes one already-masked line with one write call (not one per formatted piece).
    pub(crate) fn write_masked(&self, stream: &str, line: &str) {
        let ts = gantry_ledger::now_ts();
        let text = format!("{ts} {stream} {line}\n");
        // A failed write does not stop the step (a deploy cut off half way is worse than
        // one whose output is lost); the step fails when it ends (`write_error`), and the
        // log's hash shows what was kept.
        if let Ok(mut inner) = self.inner.lock() {
            let written = inner.file.write_all(text.as_bytes());
            match (written, inner.hash.as_mut()) {
                (Ok(()), Some(hash)) => hash.update(text.as_bytes()),
                (Ok(()), None) => {}
                (Err(e), _) => {
                    inner.hash = None;
                    inner.error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }

    /// Why the log could not be written in full, if it could not.
    pub fn write_error(&self) -> Option<String> {
        self.inner.lock().ok().and_then(|inner| inner.error.clone())
    }

    /// Writes a line from gantry itself (attempt headers, reasons), masked.
    pub fn note(&self, line: &str) {
        let masked = self.masker.mask(line);
        self.write_masked("gantry", &masked);
    }

    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Hex SHA-256 of the log as it stands; read back from PATH only if a write failed.
    pub fn sha256(&self, path: &Path) -> Option<String> {
        let kept = self
            .inner
            .lock()
            .ok()
            .and_then(|inner| inner.hash.clone())
            .map(|hash| hex::encode(hash.finalize()));
        kept.or_else(|| crate::manifest::sha256_file(path).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::StepLog;
    use crate::manifest::sha256_file;
    use crate::mask::Masker;

    #[test]
    fn kept_hash_matches_the_file_also_when_continued() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stage/01-build.log");
        let masker = Masker::new(vec!["hunter2".to_string()]);
        let log = StepLog::open(&path, masker.clone()).unwrap();
        log.note("attempt 1 of 2: build");
        log.write_masked("stdout", "compiled");
        log.note("password hunter2");
        assert_eq!(log.sha256(&path), sha256_file(&path).ok());
        drop(log);
        // A retry or resume opens the same log again and appends.
        let log = StepLog::open(&path, masker).unwrap();
        log.note("attempt 2 of 2: build");
        assert_eq!(log.sha256(&path), sha256_file(&path).ok());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains(" gantry password ***\n"), "{text}");
        assert!(!text.contains("hunter2"));
    }
}
