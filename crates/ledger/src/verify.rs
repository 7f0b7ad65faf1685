//! Streaming verification of a ledger file, reporting the first failure.
//!
//! The calling thread parses each line strictly, recomputes its hash and applies the
//! sequential checks (seq, prev, genesis, keys, seals); worker threads check signatures,
//! each by itself with strict semantics (`sig.rs`, made fast for repeated keys by
//! `sig_checker.rs`), so the verdict never depends on how lines fall into chunks and every
//! core is busy.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;

use crate::chain::Chain;
use crate::entry::{Entry, KIND_GENESIS, KIND_SEALED, ZERO_HASH, decode_hash, parse_checked};
use crate::error::{LedgerError, Result, io_err};
use crate::keys::{SYSTEM_ROLE, fingerprint};
use crate::merkle::Hash;
use crate::note::{Checkpoint, open_checkpoint, parse_checkpoint_unverified};
use crate::registry::exact_fields;
use crate::report::{Anchored, Check, VerifyFailure, VerifyReport};
use crate::sig::verify_entry_sig;
use crate::sig_checker::SigChecker;

/// Signatures handed to a worker at a time.
const CHUNK: usize = 256;
const SEAL_FIELDS: [&str; 3] = ["size", "root", "checkpoint"];

/// Verifies a ledger file. `Err` only for I/O problems; a bad ledger is a report with a failure.
pub fn verify(path: &Path) -> Result<VerifyReport> {
    verify_against(path, None)
}

/// As [`verify`], and the ledger must contain and extend the signed checkpoint `note`
/// (C2SP tlog-checkpoint text, as `gantry ledger checkpoint` writes it): its first `size`
/// entries must hash to the checkpoint's root, which one of the ledger's system keys signed.
/// `Err` also when `note` is not a checkpoint at all.
pub fn verify_against(path: &Path, note: Option<&str>) -> Result<VerifyReport> {
    let anchor = note.map(parse_checkpoint_unverified).transpose()?;
    let file = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LedgerError::NotFound(path.to_path_buf())
        } else {
            io_err(path)(e)
        }
    })?;
    let reader = BufReader::with_capacity(1 << 20, file);
    run(reader, anchor.map(|cp| (cp, note.unwrap_or_default()))).map_err(io_err(path))
}

/// Verifies ledger lines from any reader.
pub fn verify_reader(reader: impl BufRead) -> std::io::Result<VerifyReport> {
    run(reader, None)
}

/// A failure and the hash of the entry before it (the head of what verified).
type Failed = (VerifyFailure, String);

fn run(reader: impl BufRead, anchor: Option<(Checkpoint, &str)>) -> std::io::Result<VerifyReport> {
    let stop = AtomicBool::new(false);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let (tx, rx) = mpsc::sync_channel::<Vec<Pending>>(2 * workers);
    let rx = Mutex::new(rx);
    std::thread::scope(|scope| {
        let (stop, rx) = (&stop, &rx);
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(move || {
                    // Chunks finish out of order, so keep checking every chunk already
                    // queued and let the caller pick the earliest failure.
                    let mut first: Option<Failed> = None;
                    let mut checker = SigChecker::default();
                    loop {
                        let next = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => break,
                        };
                        let Ok(chunk) = next else { break };
                        if let Some(f) = check_chunk(&mut checker, &chunk) {
                            stop.store(true, Ordering::Relaxed);
                            if first.as_ref().is_none_or(|g| f.0.line < g.0.line) {
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
            seal_lines: Vec::new(),
            pending: Vec::with_capacity(CHUNK),
            tx: Some(tx),
            anchor_size: anchor.as_ref().map(|(cp, _)| cp.size),
            anchor_root: None,
        };
        let scanned = v.scan(reader, stop);
        v.flush();
        v.tx = None;
        let sig_failure = handles
            .into_iter()
            .filter_map(|h| {
                h.join().unwrap_or_else(|_| {
                    Some((
                        VerifyFailure {
                            seq: None,
                            line: 0,
                            check: Check::Signature,
                            message: "signature checker crashed".into(),
                        },
                        ZERO_HASH.to_string(),
                    ))
                })
            })
            .min_by_key(|f| f.0.line);
        let (torn, line_failure) = scanned?;
        // Pending signatures all precede a line failure, so theirs comes first.
        let mut failure = sig_failure.or(line_failure);
        if failure.is_none() && v.line == 0 {
            failure = Some((
                VerifyFailure {
                    seq: None,
                    line: 1,
                    check: Check::Genesis,
                    message: "ledger has no complete entry".into(),
                },
                ZERO_HASH.to_string(),
            ));
        }
        let mut anchored = None;
        if let Some((cp, note)) = &anchor {
            match v.check_anchor(cp, note) {
                Ok(a) => anchored = Some(a),
                Err(f) if failure.as_ref().is_none_or(|g| f.0.line < g.0.line) => {
                    failure = Some(f);
                }
                Err(_) => {}
            }
        }
        let (failure, last_hash) = match failure {
            Some((f, h)) => (Some(f), h),
            None => (None, v.chain.last_hash.clone()),
        };
        // Only what precedes the first failure counts as verified.
        let verified = failure
            .as_ref()
            .map_or(v.line, |f| f.line.saturating_sub(1));
        Ok(VerifyReport {
            entries: verified,
            seals: v.seal_lines.iter().filter(|l| **l <= verified).count() as u64,
            last_hash,
            torn_tail_bytes: torn,
            anchored: if failure.is_none() { anchored } else { None },
            failure,
        })
    })
}

/// Checks a chunk's signatures, each by itself; returns the first failure.
fn check_chunk(checker: &mut SigChecker, chunk: &[Pending]) -> Option<Failed> {
    let items: Vec<_> = chunk.iter().map(|p| (&p.key, &p.msg[..], &p.sig)).collect();
    let ok = checker.check(&items);
    chunk.iter().zip(ok).find_map(|(p, ok)| {
        (!ok).then(|| {
            (
                VerifyFailure {
                    seq: Some(p.seq),
                    line: p.line,
                    check: Check::Signature,
                    message: format!(
                        "signature does not verify (strict Ed25519) by key {}",
                        fingerprint(&p.key)
                    ),
                },
                hex::encode(p.prev),
            )
        })
    })
}

/// A failed check, with the signature and key when they were already known (so the
/// earlier signature check can still be run before reporting it).
type LinkFailure = (Check, String, Option<Box<(Signature, VerifyingKey)>>);

/// An entry that passed the sequential checks, awaiting its signature check.
struct Pending {
    line: u64,
    seq: u64,
    prev: Hash,
    msg: [u8; 49],
    sig: Signature,
    key: VerifyingKey,
}

struct Verifier {
    chain: Chain,
    /// Lines that passed the sequential checks.
    line: u64,
    seal_lines: Vec<u64>,
    pending: Vec<Pending>,
    tx: Option<SyncSender<Vec<Pending>>>,
    anchor_size: Option<u64>,
    anchor_root: Option<Hash>,
}

impl Verifier {
    /// Reads lines until the end, a torn tail, a failure, or a signature failure elsewhere.
    fn scan(
        &mut self,
        mut reader: impl BufRead,
        stop: &AtomicBool,
    ) -> std::io::Result<(u64, Option<Failed>)> {
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
                return Ok((0, Some((f, self.chain.last_hash.clone()))));
            }
        }
        Ok((0, None))
    }

    fn check_line(&mut self, bytes: &[u8]) -> std::result::Result<(), VerifyFailure> {
        let line = self.line + 1;
        let fail = |seq: Option<u64>, check: Check, message: String| VerifyFailure {
            seq,
            line,
            check,
            message,
        };
        let (e, computed) = match std::str::from_utf8(bytes)
            .map_err(|_| LedgerError::InvalidLine("line is not UTF-8".into()))
            .and_then(parse_checked)
        {
            Ok(parsed) => parsed,
            Err(err) => {
                let seq = serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .and_then(|v| v.get("seq").and_then(Value::as_u64));
                let message = match err {
                    LedgerError::InvalidLine(m) => m,
                    other => other.to_string(),
                };
                return Err(fail(seq, Check::Parse, message));
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
        if computed != stored {
            return Err(fail(
                seq,
                Check::Hash,
                format!(
                    "stored hash {} but content hashes to {}",
                    e.hash,
                    hex::encode(computed)
                ),
            ));
        }
        let msg = crate::entry::signing_message(&stored);
        match self.check_links(&e) {
            Ok((sig, key)) => {
                let prev = decode_hash(&e.prev).unwrap_or_default();
                self.chain.push(&e, &stored);
                self.line = line;
                if e.kind == KIND_SEALED {
                    self.seal_lines.push(line);
                }
                if self.anchor_size == Some(self.chain.frontier.size()) {
                    self.anchor_root = Some(self.chain.frontier.root());
                }
                self.pending.push(Pending {
                    line,
                    seq: e.seq,
                    prev,
                    msg,
                    sig,
                    key,
                });
                if self.pending.len() >= CHUNK {
                    self.flush();
                }
                Ok(())
            }
            // The signature check precedes these: run it here first, once it is known.
            Err((check, message, signed)) => {
                if let Some(signed) = signed
                    && !verify_entry_sig(&signed.1, &msg, &signed.0)
                {
                    let m = "signature does not verify (strict Ed25519)".to_string();
                    return Err(fail(seq, Check::Signature, m));
                }
                Err(fail(seq, check, message))
            }
        }
    }

    /// Genesis, key, signature-format, registry and seal checks.
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
        }
        Ok((sig, key))
    }

    fn check_seal(&self, e: &Entry, key: &VerifyingKey) -> std::result::Result<(), String> {
        if e.actor.role != SYSTEM_ROLE {
            return Err("seal is not signed by the system key".into());
        }
        exact_fields(KIND_SEALED, &e.body, &SEAL_FIELDS)?;
        let size = e
            .body
            .get("size")
            .and_then(Value::as_u64)
            .ok_or("body.size is not a count")?;
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
            .ok_or("body.checkpoint is not a string")?;
        let origin = self.chain.origin().ok_or("no origin")?;
        let cp = open_checkpoint(note, origin, key).map_err(|err| err.to_string())?;
        if cp.size != size || cp.root != root {
            return Err("checkpoint size/root differ from the seal body".into());
        }
        Ok(())
    }

    /// After the scan: the checkpoint must be this log's, signed by one of its system keys,
    /// and its size and root those of the ledger's first entries.
    fn check_anchor(&self, cp: &Checkpoint, note: &str) -> std::result::Result<Anchored, Failed> {
        let fail = |line: u64, seq: Option<u64>, message: String, head: String| {
            let check = Check::Checkpoint;
            (
                VerifyFailure {
                    seq,
                    line,
                    check,
                    message,
                },
                head,
            )
        };
        let untrusted = |message: String| fail(1, None, message, ZERO_HASH.to_string());
        let origin = self.chain.origin().unwrap_or_default();
        if cp.origin != origin {
            return Err(untrusted(format!(
                "the checkpoint is for log {:?}, this ledger is {origin:?}",
                cp.origin
            )));
        }
        let signer = self
            .chain
            .registry
            .system_keys()
            .into_iter()
            .find(|k| open_checkpoint(note, origin, &k.key).is_ok())
            .ok_or_else(|| {
                untrusted(
                    "the checkpoint is not signed by any system key this ledger has had".into(),
                )
            })?;
        let have = self.chain.frontier.size();
        if cp.size > have {
            return Err(fail(
                have + 1,
                None,
                format!(
                    "the checkpoint covers {} entries but the ledger ends after {have}: \
                     entries {}..={} it witnessed are missing (truncated)",
                    cp.size,
                    have + 1,
                    cp.size
                ),
                self.chain.last_hash.clone(),
            ));
        }
        let root = match cp.size {
            0 => crate::merkle::empty_root(),
            _ => self.anchor_root.unwrap_or_default(),
        };
        if root != cp.root {
            return Err(untrusted(format!(
                "the ledger's first {} entries hash to root {}, not the checkpoint's {}: \
                 the history it witnessed was rewritten somewhere in lines 1..={}",
                cp.size,
                STANDARD.encode(root),
                STANDARD.encode(cp.root),
                cp.size
            )));
        }
        Ok(Anchored {
            size: cp.size,
            root: STANDARD.encode(cp.root),
            signed_by: fingerprint(&signer.key),
        })
    }

    /// Hands pending signatures to the checker threads.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.pending, Vec::with_capacity(CHUNK));
        if let Some(tx) = &self.tx {
            // A closed channel means a checker already found a bad signature.
            let _ = tx.send(chunk);
        }
    }
}
