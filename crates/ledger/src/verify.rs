//! Streaming verification of a ledger file, reporting the first failure.
//!
//! Signatures are checked in chunks with `ed25519_dalek::verify_batch`; a failing chunk is
//! re-checked entry by entry with `verify_strict` to name the first bad one. Batch
//! verification is not "strict": it would accept a signature whose R is a small-order point
//! or non-canonically encoded, which only the key holder can produce and which verifies
//! under the same key and message anyway (malleability, not forgery). Small-order public
//! keys, the other gap, are refused when keys are registered.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey, verify_batch};
use serde_json::Value;

use crate::chain::Chain;
use crate::entry::{Entry, KIND_GENESIS, KIND_SEALED, signing_message};
use crate::error::{LedgerError, Result, io_err};
use crate::keys::SYSTEM_ROLE;
use crate::note::open_checkpoint;
use crate::report::{Check, VerifyFailure, VerifyReport};

const BATCH: usize = 256;

/// Verifies a ledger file. `Err` only for I/O problems; a bad ledger is a report with a failure.
pub fn verify(path: &Path) -> Result<VerifyReport> {
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LedgerError::NotFound(path.to_path_buf())
        } else {
            io_err(path)(e)
        }
    })?;
    verify_reader(BufReader::with_capacity(1 << 20, file)).map_err(io_err(path))
}

/// Verifies ledger lines from any reader. Parsing and hashing run on the calling thread
/// while worker threads check signature chunks, so all cores are busy.
pub fn verify_reader(reader: impl BufRead) -> std::io::Result<VerifyReport> {
    let stop = AtomicBool::new(false);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (tx, rx) = mpsc::sync_channel::<Vec<Pending>>(2 * workers);
    let rx = Mutex::new(rx);
    std::thread::scope(|scope| {
        let (stop, rx) = (&stop, &rx);
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(move || {
                    // Chunks finish out of order, so keep checking every chunk already
                    // queued and let the caller pick the earliest failure.
                    let mut first: Option<VerifyFailure> = None;
                    loop {
                        let next = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => break,
                        };
                        let Ok(chunk) = next else { break };
                        if let Some(f) = check_chunk(&chunk) {
                            stop.store(true, Ordering::Relaxed);
                            if first.as_ref().is_none_or(|g| f.line < g.line) {
                                first = Some(f);
                            }
                        }
                    }
                    first
                })
            })
            .collect();
        let mut v = Verifier {
            chain: Chain::new(),
            line: 0,
            entries: 0,
            seals: 0,
            pending: Vec::with_capacity(BATCH),
            tx: Some(tx),
        };
        let scanned = v.scan(reader, stop);
        v.flush();
        v.tx = None;
        let sig_failure = handles
            .into_iter()
            .filter_map(|h| {
                h.join().unwrap_or_else(|_| {
                    Some(VerifyFailure {
                        seq: None,
                        line: 0,
                        check: Check::Signature,
                        message: "signature checker crashed".into(),
                    })
                })
            })
            .min_by_key(|f| f.line);
        let (torn, line_failure) = scanned?;
        // Pending signatures all precede a line failure, so theirs comes first.
        let mut failure = sig_failure.or(line_failure);
        if failure.is_none() && v.entries == 0 {
            failure = Some(VerifyFailure {
                seq: None,
                line: 1,
                check: Check::Genesis,
                message: "ledger has no complete entry".into(),
            });
        }
        // Entries after a bad signature are not counted as verified.
        let entries = failure
            .as_ref()
            .and_then(|f| f.seq)
            .map_or(v.entries, |s| v.entries.min(s.saturating_sub(1)));
        Ok(VerifyReport {
            entries,
            seals: v.seals,
            last_hash: v.chain.last_hash,
            torn_tail_bytes: torn,
            failure,
        })
    })
}

/// Recomputes each entry's hash, then batch-verifies the signatures; a failing batch is
/// re-checked with `verify_strict` to name its first bad entry. Returns the chunk's first
/// failure (a hash failure wins over a signature failure on the same line).
fn check_chunk(chunk: &[Pending]) -> Option<VerifyFailure> {
    let fail = |p: &Pending, check: Check, message: String| VerifyFailure {
        seq: Some(p.entry.seq),
        line: p.line,
        check,
        message,
    };
    let mut first = None;
    let mut msgs = Vec::with_capacity(chunk.len());
    for p in chunk {
        if let Err(m) = hash_matches(&p.entry, &p.stored) {
            first = Some(fail(p, Check::Hash, m));
            break;
        }
        msgs.push(signing_message(&p.stored));
    }
    // Only the entries before a hash failure count.
    let checked = &chunk[..msgs.len()];
    let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
    let sigs: Vec<Signature> = checked.iter().map(|p| p.sig).collect();
    let keys: Vec<VerifyingKey> = checked.iter().map(|p| p.key).collect();
    if verify_batch(&refs, &sigs, &keys).is_ok() {
        return first;
    }
    checked
        .iter()
        .zip(&msgs)
        .find_map(|(p, m)| {
            p.key.verify_strict(m, &p.sig).err().map(|err| {
                fail(
                    p,
                    Check::Signature,
                    format!("signature does not verify: {err}"),
                )
            })
        })
        .or(first)
}

fn hash_matches(e: &Entry, stored: &[u8; 32]) -> std::result::Result<(), String> {
    let hash = e.compute_hash().map_err(|err| err.to_string())?;
    if hash != *stored {
        return Err(format!(
            "stored hash {} but content hashes to {}",
            e.hash,
            hex::encode(hash)
        ));
    }
    Ok(())
}

/// A failed check, with the signature and key when they were already known (so the
/// earlier signature check can still be run before reporting it).
type LinkFailure = (Check, String, Option<Box<(Signature, VerifyingKey)>>);

/// An entry that passed the sequential checks, awaiting hash and signature checks.
struct Pending {
    line: u64,
    entry: Entry,
    stored: [u8; 32],
    sig: Signature,
    key: VerifyingKey,
}

struct Verifier {
    chain: Chain,
    line: u64,
    entries: u64,
    seals: u64,
    pending: Vec<Pending>,
    tx: Option<SyncSender<Vec<Pending>>>,
}

impl Verifier {
    /// Reads lines until the end, a torn tail, a failure, or a signature failure elsewhere.
    fn scan(
        &mut self,
        mut reader: impl BufRead,
        stop: &AtomicBool,
    ) -> std::io::Result<(u64, Option<VerifyFailure>)> {
        let mut buf = Vec::with_capacity(1024);
        while !stop.load(Ordering::Relaxed) {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            if buf.last() != Some(&b'\n') {
                return Ok((n as u64, None));
            }
            if let Err(f) = self.check_line(&buf[..n - 1]) {
                return Ok((0, Some(f)));
            }
        }
        Ok((0, None))
    }

    fn check_line(&mut self, bytes: &[u8]) -> std::result::Result<(), VerifyFailure> {
        self.line += 1;
        let line = self.line;
        let fail = |seq: Option<u64>, check: Check, message: String| VerifyFailure {
            seq,
            line,
            check,
            message,
        };
        let e = match std::str::from_utf8(bytes)
            .map_err(|_| LedgerError::InvalidLine("not UTF-8".into()))
            .and_then(Entry::parse_line)
        {
            Ok(e) => e,
            Err(err) => {
                let seq = serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .and_then(|v| v.get("seq").and_then(Value::as_u64));
                return Err(fail(seq, Check::Parse, err.to_string()));
            }
        };
        let seq = Some(e.seq);
        let want = self.chain.seq + 1;
        if e.seq != want {
            return Err(fail(
                seq,
                Check::Seq,
                format!("expected seq {want}, found {}", e.seq),
            ));
        }
        if e.prev != self.chain.last_hash {
            return Err(fail(
                seq,
                Check::Prev,
                format!(
                    "prev {} does not match hash of seq {} ({})",
                    e.prev, self.chain.seq, self.chain.last_hash
                ),
            ));
        }
        let Some(stored) = e.hash_bytes() else {
            return Err(fail(
                seq,
                Check::Hash,
                "hash is not 64 lowercase hex digits".into(),
            ));
        };
        match self.check_links(&e) {
            Ok((sig, key)) => {
                self.chain.push(&e, &stored);
                self.entries += 1;
                self.pending.push(Pending {
                    line,
                    entry: e,
                    stored,
                    sig,
                    key,
                });
                if self.pending.len() >= BATCH {
                    self.flush();
                }
                Ok(())
            }
            // Hash (and, once known, signature) checks precede these: run them here first.
            Err((check, message, signed)) => {
                if let Err(m) = hash_matches(&e, &stored) {
                    return Err(fail(seq, Check::Hash, m));
                }
                if let Some(signed) = signed
                    && let Err(err) = signed.1.verify_strict(&signing_message(&stored), &signed.0)
                {
                    let m = format!("signature does not verify: {err}");
                    return Err(fail(seq, Check::Signature, m));
                }
                Err(fail(seq, check, message))
            }
        }
    }

    /// Genesis, key, signature-format, registry and seal checks, using the stored hash
    /// (its recomputation happens on the worker threads).
    fn check_links(
        &mut self,
        e: &Entry,
    ) -> std::result::Result<(Signature, VerifyingKey), LinkFailure> {
        if (e.seq == 1) != (e.kind == KIND_GENESIS) {
            let m = "entry 1, and only entry 1, must be ledger.genesis".to_string();
            return Err((Check::Genesis, m, None));
        }
        if e.seq == 1 {
            self.chain
                .registry
                .apply(e)
                .map_err(|m| (Check::Genesis, m, None))?;
        }
        let key = self.chain.registry.key_for(&e.actor, e.seq).map_err(|m| {
            let m = format!("{}/{}: {m}", e.actor.role, e.actor.id);
            (Check::Key, m, None)
        })?;
        let sig = e.signature().ok_or_else(|| {
            let m = "sig is not base64 of 64 bytes".to_string();
            (Check::Signature, m, None)
        })?;
        if e.seq != 1 {
            self.chain.registry.apply(e).map_err(|m| {
                (
                    Check::Key,
                    format!("{}: {m}", e.kind),
                    Some(Box::new((sig, key))),
                )
            })?;
        }
        if e.kind == KIND_SEALED {
            self.check_seal(e, &key)
                .map_err(|m| (Check::Seal, m, Some(Box::new((sig, key)))))?;
            self.seals += 1;
        }
        Ok((sig, key))
    }

    fn check_seal(&self, e: &Entry, key: &VerifyingKey) -> std::result::Result<(), String> {
        if e.actor.role != SYSTEM_ROLE {
            return Err("seal is not signed by the system key".into());
        }
        let size = e
            .body
            .get("size")
            .and_then(Value::as_u64)
            .ok_or("body.size missing")?;
        if size != e.seq - 1 || size != self.chain.frontier.size() {
            return Err(format!(
                "body.size {size} must be {} (all entries before the seal)",
                e.seq - 1
            ));
        }
        let root = self.chain.frontier.root();
        let root_b64 = STANDARD.encode(root);
        if e.body.get("root").and_then(Value::as_str) != Some(root_b64.as_str()) {
            return Err(format!(
                "body.root does not match the recomputed root {root_b64}"
            ));
        }
        let note = e
            .body
            .get("checkpoint")
            .and_then(Value::as_str)
            .ok_or("body.checkpoint missing")?;
        let origin = self.chain.origin().ok_or("no origin")?;
        let cp = open_checkpoint(note, origin, key).map_err(|err| err.to_string())?;
        if cp.size != size || cp.root != root {
            return Err("checkpoint size/root differ from the seal body".into());
        }
        Ok(())
    }

    /// Hands pending signatures to the checker thread.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH));
        if let Some(tx) = &self.tx {
            // A closed channel means the checker already found a bad signature.
            let _ = tx.send(chunk);
        }
    }
}
