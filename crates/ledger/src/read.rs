//! Lock-free reading of a whole ledger file.

use std::path::Path;

use crate::entry::Entry;
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
    let data = std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LedgerError::NotFound(path.to_path_buf())
        } else {
            io_err(path)(e)
        }
    })?;
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut entries = Vec::new();
    for (i, line) in data[..complete]
        .split_inclusive(|&b| b == b'\n')
        .enumerate()
    {
        let line = &line[..line.len() - 1];
        let corrupt = |message: String| LedgerError::Corrupt {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            message,
        };
        let text = std::str::from_utf8(line).map_err(|_| corrupt("line is not UTF-8".into()))?;
        entries.push(Entry::parse_line(text).map_err(|e| corrupt(e.to_string()))?);
    }
    let torn = (data.len() - complete) as u64;
    Ok(ReadOutcome {
        entries,
        torn_tail_bytes: torn,
        torn_tail_offset: (torn > 0).then_some(complete as u64),
    })
}
