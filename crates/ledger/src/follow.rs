//! Following a ledger file as other processes append to it: each read returns the complete
//! lines added since the previous one (a line still being written is returned whole by a
//! later read), so a watcher never re-reads the file. Parsing is the caller's: a waiting
//! run wants only canonical entries, a counter only the lines a cheap byte test picks out.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where a reader of a ledger file got to.
#[derive(Clone, Debug)]
pub struct Follower {
    path: PathBuf,
    /// Just past the last complete line read.
    offset: u64,
    /// Whether the last read started over because the file got shorter.
    pub rewound: bool,
}

impl Follower {
    /// A follower whose first read covers the whole file.
    #[must_use]
    pub fn new(path: &Path) -> Follower {
        Follower::from_offset(path, 0)
    }

    /// A follower whose first read starts at `offset` (the end, to see only what comes).
    #[must_use]
    pub fn from_offset(path: &Path, offset: u64) -> Follower {
        Follower {
            path: path.to_path_buf(),
            offset,
            rewound: false,
        }
    }

    /// The complete lines (each with its `\n`) appended since the last read for which
    /// `keep` holds. A file shorter than what was read (replaced, or cut back to its last
    /// whole entry) is read again from the start, with [`Follower::rewound`] set.
    pub fn read_lines(&mut self, keep: impl Fn(&[u8]) -> bool) -> std::io::Result<Vec<Vec<u8>>> {
        let mut file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        // Nothing moves until the read has succeeded: after an error the same lines (and
        // the same rewind) come again next time.
        let rewound = len < self.offset;
        let mut offset = if rewound { 0 } else { self.offset };
        if len == offset {
            (self.offset, self.rewound) = (offset, rewound);
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::with_capacity(1 << 16, file.take(len - offset));
        let mut found = Vec::new();
        let mut line = Vec::with_capacity(1024);
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                // End of file, or a line not yet complete: it is read again next time.
                break;
            }
            offset += n as u64;
            if keep(&line) {
                found.push(line.clone());
            }
        }
        (self.offset, self.rewound) = (offset, rewound);
        Ok(found)
    }
}

/// Whether `needle` occurs in `line`: the cheap test that spares parsing most lines.
#[must_use]
pub fn mentions(line: &[u8], needle: &[u8]) -> bool {
    line.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn complete_lines_once_each_and_a_cut_back_file_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        std::fs::write(&path, "one\ntw").unwrap();
        let mut f = Follower::new(&path);
        let all = |_: &[u8]| true;
        assert_eq!(f.read_lines(all).unwrap(), [b"one\n".to_vec()]);
        // The half line waits for its end.
        assert!(f.read_lines(all).unwrap().is_empty());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"o\nthree\n").unwrap();
        let got = f.read_lines(|l| !mentions(l, b"three")).unwrap();
        assert_eq!(got, [b"two\n".to_vec()]);
        assert!(!f.rewound);
        // Cut back (a torn tail recovered): read again from the start, said so.
        std::fs::write(&path, "one\n").unwrap();
        assert_eq!(f.read_lines(all).unwrap(), [b"one\n".to_vec()]);
        assert!(f.rewound);
        assert!(f.read_lines(all).unwrap().is_empty());
        assert!(!f.rewound);
        // From the end: only what comes after.
        let mut end = Follower::from_offset(&path, 4);
        assert!(end.read_lines(all).unwrap().is_empty());
        // A missing file is an error and moves nothing.
        let mut gone = Follower::new(&dir.path().join("none"));
        assert!(gone.read_lines(all).is_err());
    }
}
