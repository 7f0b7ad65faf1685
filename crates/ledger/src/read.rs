//! Lock-free reading of a whole ledger file, streamed line by line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::entry::{Entry, KIND_GENESIS, KIND_REGISTERED, KIND_ROTATED};
use crate::error::{LedgerError, Result, io_err};

/// What a lock-free read found.
#[derive(Clone, Debug)]
pub struct ReadOutcome {
    pub entries: Vec<Entry>,
    /// Length of an unterminated last line (a torn or in-flight write), 0 if none.
    pub torn_tail_bytes: u64,
    /// Offset where that unterminated line starts.
    pub torn_tail_offset: Option<u64>,
}

/// Reads every complete line of a ledger file without locking.
pub fn read_entries(path: &Path) -> Result<ReadOutcome> {
    read_entries_where(path, |_| true)
}

/// The registry entries (`ledger.genesis`, `agent.registered`, `agent.rotated`): all that
/// is needed to know who may sign, without holding the whole ledger in memory.
pub fn read_registry(path: &Path) -> Result<ReadOutcome> {
    read_entries_where(path, |e| {
        matches!(
            e.kind.as_str(),
            KIND_GENESIS | KIND_REGISTERED | KIND_ROTATED
        )
    })
}

/// Reads the file line by line and keeps the entries `keep` selects; every line is still
/// parsed strictly, so a corrupt line fails the read wherever it is.
pub fn read_entries_where(
    path: &Path,
    mut keep: impl FnMut(&Entry) -> bool,
) -> Result<ReadOutcome> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LedgerError::NotFound(path.to_path_buf())
        } else {
            io_err(path)(e)
        }
    })?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut entries = Vec::new();
    let mut buf = Vec::with_capacity(1024);
    let (mut offset, mut line) = (0u64, 0u64);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            return Ok(ReadOutcome {
                entries,
                torn_tail_bytes: n as u64,
                torn_tail_offset: Some(offset),
            });
        }
        line += 1;
        offset += n as u64;
        let corrupt = |message: String| LedgerError::Corrupt {
            path: path.to_path_buf(),
            line,
            message,
        };
        let text =
            std::str::from_utf8(&buf[..n - 1]).map_err(|_| corrupt("line is not UTF-8".into()))?;
        let entry = Entry::parse_line(text).map_err(|e| corrupt(e.to_string()))?;
        if keep(&entry) {
            entries.push(entry);
        }
    }
    Ok(ReadOutcome {
        entries,
        torn_tail_bytes: 0,
        torn_tail_offset: None,
    })
}
