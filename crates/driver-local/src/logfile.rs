//! Instance log files, kept bounded: each instance appends its stdout and stderr to
//! `<log_dir>/<instance>.log`; past [`MAX_BYTES`] the file is copied to `<instance>.log.1`
//! (replacing the one before) and truncated — logrotate's `copytruncate`, which an
//! instance writing with `O_APPEND` goes on writing into without a restart.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest an instance log grows before it is rotated (plus what is written between two
/// checks).
pub const MAX_BYTES: u64 = 8 * 1024 * 1024;
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The rotated copy of `log`.
pub fn rotated(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Rotates `log` when it holds more than `max` bytes; true when it did.
pub fn rotate_if_over(log: &Path, max: u64) -> std::io::Result<bool> {
    match fs::metadata(log) {
        Ok(m) if m.len() > max => {
            fs::copy(log, rotated(log))?;
            fs::OpenOptions::new().write(true).open(log)?.set_len(0)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Keeps `log` bounded while its instance runs; never returns.
pub async fn keep_bounded(log: PathBuf) -> ! {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if let Err(e) = rotate_if_over(&log, MAX_BYTES) {
            tracing::warn!(log = %log.display(), error = %e, "cannot rotate the instance log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_appending_writer_goes_on_into_the_truncated_file() {
        let dir = std::env::temp_dir().join(format!("gantry-logfile-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("web-v1-1.log");
        let mut w = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        w.write_all(b"0123456789\n").unwrap();
        assert!(!rotate_if_over(&log, 100).unwrap());
        assert!(rotate_if_over(&log, 5).unwrap());
        w.write_all(b"after\n").unwrap();
        assert_eq!(fs::read_to_string(&log).unwrap(), "after\n");
        assert_eq!(fs::read_to_string(rotated(&log)).unwrap(), "0123456789\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
