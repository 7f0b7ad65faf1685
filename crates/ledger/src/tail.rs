//! Reading a ledger file forward from a known offset: complete lines are absorbed into a
//! [`Chain`], an unterminated last line is reported as a torn write.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;

use crate::chain::Chain;
use crate::entry::{Entry, KIND_GENESIS, KIND_REGISTERED, KIND_ROTATED, decode_hash};
use crate::error::{LedgerError, Result, io_err};

/// Where the writer's view of the file ends.
#[derive(Clone, Debug)]
pub(crate) struct Cursor {
    /// Byte offset just past the last complete line absorbed.
    pub offset: u64,
    /// Complete lines absorbed.
    pub lines: u64,
    pub chain: Chain,
}

impl Cursor {
    pub fn new() -> Self {
        Cursor {
            offset: 0,
            lines: 0,
            chain: Chain::new(),
        }
    }
}

/// Bytes after the last '\n': a write that never reached its commit marker.
#[derive(Debug)]
pub(crate) struct Torn {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// The fields the writer needs from an ordinary line; the body is skipped unparsed.
#[derive(Deserialize)]
struct Skim<'a> {
    seq: u64,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    hash: std::borrow::Cow<'a, str>,
}

/// Absorbs the lines appended since `cur.offset`. Signatures are not checked here (that is
/// `verify`'s job); lines must parse, since the next entry chains to the last one.
pub(crate) fn catch_up(path: &Path, file: &File, cur: &mut Cursor) -> Result<Option<Torn>> {
    let len = file.metadata().map_err(io_err(path))?.len();
    if len < cur.offset {
        // Bytes this handle saw committed (fsynced, acknowledged) are gone: the file was
        // truncated or replaced under the writer. Re-reading it would chain new entries
        // onto a history that lost evidence, so it is corruption to report, not to absorb.
        return Err(LedgerError::Corrupt {
            path: path.to_path_buf(),
            line: cur.lines,
            message: format!(
                "the file got shorter under this writer: {len} bytes, but {} bytes \
                 ({} entries) were already committed; refusing to append \
                 (run `gantry ledger verify`)",
                cur.offset, cur.lines
            ),
        });
    }
    if len == cur.offset {
        return Ok(None);
    }
    let mut f = file;
    f.seek(SeekFrom::Start(cur.offset)).map_err(io_err(path))?;
    let mut reader = BufReader::with_capacity(1 << 16, f.take(len - cur.offset));
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() != Some(&b'\n') {
            return Ok(Some(Torn {
                offset: cur.offset,
                bytes: std::mem::take(&mut buf),
            }));
        }
        let line_no = cur.lines + 1;
        absorb(&buf[..n - 1], &mut cur.chain).map_err(|message| LedgerError::Corrupt {
            path: path.to_path_buf(),
            line: line_no,
            message,
        })?;
        cur.lines = line_no;
        cur.offset += n as u64;
    }
}

fn absorb(line: &[u8], chain: &mut Chain) -> std::result::Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|_| "line is not UTF-8".to_string())?;
    let skim: Skim = serde_json::from_str(text).map_err(|e| format!("cannot parse entry: {e}"))?;
    let hash = decode_hash(&skim.hash).ok_or("hash is not 64 lowercase hex digits")?;
    if matches!(
        skim.kind.as_ref(),
        KIND_GENESIS | KIND_REGISTERED | KIND_ROTATED
    ) {
        let e = Entry::parse_line(text).map_err(|e| e.to_string())?;
        // An invalid registration is verify's to report; the writer just does not honour it.
        let _ = chain.registry.apply(&e);
    }
    chain.seq = skim.seq;
    chain.last_hash = skim.hash.into_owned();
    chain.frontier.push(crate::merkle::leaf_hash(&hash));
    Ok(())
}
