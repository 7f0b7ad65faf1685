//! The ledger file: creation, durable appends under an exclusive lock, torn-tail recovery,
//! seals, and lock-free reads.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::chain::Chain;
use crate::compose::{can_sign, check_kind, push_entry, seal_entry};
use crate::entry::{
    Entry, KIND_GENESIS, KIND_RECOVERED, KIND_REGISTERED, KIND_ROTATED, NewEntry, now_ts,
};
use crate::error::{LedgerError, Result, io_err};
use crate::keys::{SYSTEM_ID, SYSTEM_ROLE, Signer};
use crate::read::{ReadOutcome, read_entries};
use crate::registry::{genesis_body, registered_body, rotated_body};
use crate::sign::sign_batch;
use crate::tail::{Cursor, Torn, catch_up};

#[derive(Clone, Debug)]
pub struct LedgerOptions {
    /// Append a seal each time the entry count reaches a multiple of this (needs `sealer`).
    pub seal_every: Option<u64>,
    /// Expected origin; the origin recorded in genesis is what checkpoints use.
    pub origin: String,
    /// System signer for automatic seals; `None` disables them.
    pub sealer: Option<Signer>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            seal_every: Some(1000),
            origin: "gantry".to_string(),
            sealer: None,
        }
    }
}

pub struct Ledger {
    path: PathBuf,
    opts: LedgerOptions,
    inner: Mutex<Inner>,
}

struct Inner {
    file: File,
    cur: Cursor,
}

/// One unit of a batch.
enum Op<'a> {
    Item(&'a Signer, NewEntry),
    Seal(&'a Signer),
}

/// Releases the file lock however the batch ends.
struct FileLock<'a>(&'a File);

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn open_rw(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(create)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                LedgerError::NotFound(path.to_path_buf())
            } else {
                LedgerError::Io {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        })
}

fn sync_parent(path: &Path) -> Result<()> {
    crate::durable::sync_parent(path).map_err(io_err(path.parent().unwrap_or(Path::new("."))))
}

impl Ledger {
    /// Creates a ledger with its genesis entry. The system signer (role and id "gantry") is
    /// also used for automatic seals by the returned handle.
    pub fn create(path: &Path, system: &Signer, origin: &str) -> Result<Ledger> {
        if system.role() != SYSTEM_ROLE || system.id() != SYSTEM_ID {
            return Err(LedgerError::Key(format!(
                "genesis must be signed by the system signer {SYSTEM_ROLE}/{SYSTEM_ID}"
            )));
        }
        let file = open_rw(path, true)?;
        let mut cur = Cursor::new();
        {
            file.lock().map_err(io_err(path))?;
            let _guard = FileLock(&file);
            if file.metadata().map_err(io_err(path))?.len() > 0 {
                return Err(LedgerError::AlreadyExists(path.to_path_buf()));
            }
            let body = genesis_body(origin, &system.verifying_key());
            let e = Entry::build(
                1,
                now_ts(),
                KIND_GENESIS,
                system,
                body,
                &cur.chain.last_hash,
            )?;
            cur.chain
                .registry
                .apply(&e)
                .map_err(LedgerError::Registry)?;
            let line = e.to_line()?;
            (&file).write_all(line.as_bytes()).map_err(io_err(path))?;
            file.sync_all().map_err(io_err(path))?;
            sync_parent(path)?;
            let hash = e
                .hash_bytes()
                .ok_or_else(|| LedgerError::Registry("bad hash".into()))?;
            cur.chain.push(&e, &hash);
            cur.offset = line.len() as u64;
            cur.lines = 1;
        }
        let opts = LedgerOptions {
            origin: origin.to_string(),
            sealer: Some(system.clone()),
            ..LedgerOptions::default()
        };
        Ok(Ledger {
            path: path.to_path_buf(),
            opts,
            inner: Mutex::new(Inner { file, cur }),
        })
    }

    /// Opens an existing ledger for appending and reading. Nothing is read until the first
    /// append, which also recovers a torn tail.
    pub fn open(path: &Path, opts: LedgerOptions) -> Result<Ledger> {
        let file = open_rw(path, false)?;
        Ok(Ledger {
            path: path.to_path_buf(),
            opts,
            inner: Mutex::new(Inner {
                file,
                cur: Cursor::new(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn options(&self) -> &LedgerOptions {
        &self.opts
    }

    /// Appends one entry; durable (fsync) before it returns.
    pub fn append(&self, signer: &Signer, kind: &str, body: Value) -> Result<Entry> {
        let mut out = self.commit(vec![Op::Item(signer, NewEntry::new(kind, body))])?;
        out.pop()
            .ok_or_else(|| LedgerError::GroupCommit("no entry written".into()))
    }

    /// Appends entries with one lock, one write and one fsync.
    pub fn append_batch(&self, signer: &Signer, items: Vec<NewEntry>) -> Result<Vec<Entry>> {
        self.commit(items.into_iter().map(|i| Op::Item(signer, i)).collect())
    }

    /// Like `append_batch`, each entry with its own signer.
    pub fn append_mixed(&self, items: Vec<(&Signer, NewEntry)>) -> Result<Vec<Entry>> {
        self.commit(items.into_iter().map(|(s, i)| Op::Item(s, i)).collect())
    }

    /// Appends a seal over every entry so far.
    pub fn seal(&self, system: &Signer) -> Result<Entry> {
        let mut out = self.commit(vec![Op::Seal(system)])?;
        out.pop()
            .ok_or_else(|| LedgerError::GroupCommit("no seal written".into()))
    }

    /// Records a new agent key (signed by the system key).
    pub fn register_agent(
        &self,
        system: &Signer,
        role: &str,
        id: &str,
        key: &ed25519_dalek::VerifyingKey,
    ) -> Result<Entry> {
        self.append(system, KIND_REGISTERED, registered_body(role, id, key))
    }

    /// Replaces an agent key; the old key stays valid only for entries before this one.
    pub fn rotate_agent(
        &self,
        system: &Signer,
        role: &str,
        id: &str,
        old_fingerprint: &str,
        key: &ed25519_dalek::VerifyingKey,
    ) -> Result<Entry> {
        self.append(
            system,
            KIND_ROTATED,
            rotated_body(role, id, old_fingerprint, key),
        )
    }

    /// Recovers a torn tail now, if there is one, recording it as signed by `signer`.
    pub fn recover(&self, signer: &Signer) -> Result<Option<Entry>> {
        let mut guard = self.lock_inner();
        let Inner { file, cur } = &mut *guard;
        file.lock().map_err(io_err(&self.path))?;
        let _flock = FileLock(file);
        let Some(torn) = catch_up(&self.path, file, cur)? else {
            return Ok(None);
        };
        let mut chain = cur.chain.clone();
        let ts = now_ts();
        let broken = broken_path(&self.path);
        let mut rec = self.recovered_entry(&mut chain, signer, &torn, &broken, &ts)?;
        rec.sign_with(signer);
        self.write_locked(
            file,
            cur,
            Some((torn, broken)),
            std::slice::from_ref(&rec),
            chain,
        )?;
        Ok(Some(rec))
    }

    fn lock_inner(&self) -> MutexGuard<'_, Inner> {
        // The cursor is only replaced after a successful write, so a panic elsewhere
        // cannot leave it half-updated.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn commit(&self, ops: Vec<Op<'_>>) -> Result<Vec<Entry>> {
        for op in &ops {
            if let Op::Item(_, item) = op {
                check_kind(&item.kind)?;
            }
        }
        let mut guard = self.lock_inner();
        let Inner { file, cur } = &mut *guard;
        file.lock().map_err(io_err(&self.path))?;
        let _flock = FileLock(file);
        let torn = catch_up(&self.path, file, cur)?;
        if cur.chain.seq == 0 {
            return Err(LedgerError::Corrupt {
                path: self.path.clone(),
                line: 1,
                message: "ledger has no genesis entry".into(),
            });
        }
        let mut chain = cur.chain.clone();
        let ts = now_ts();
        let mut batch = Batch::with_capacity(ops.len() + 1);
        let recovery = match torn {
            Some(torn) => {
                let signer = match ops.first() {
                    Some(Op::Item(s, _)) | Some(Op::Seal(s)) => *s,
                    None => return Ok(Vec::new()),
                };
                let broken = broken_path(&self.path);
                let e = self.recovered_entry(&mut chain, signer, &torn, &broken, &ts)?;
                batch.push(e, signer, false);
                self.maybe_seal(&mut chain, &ts, &mut batch)?;
                Some((torn, broken))
            }
            None => None,
        };
        for op in ops {
            match op {
                Op::Item(signer, item) => {
                    let e = push_entry(&mut chain, signer, &item.kind, item.body, &ts)?;
                    batch.push(e, signer, true);
                    self.maybe_seal(&mut chain, &ts, &mut batch)?;
                }
                Op::Seal(system) => {
                    let origin = chain.origin().unwrap_or(&self.opts.origin).to_string();
                    let e = seal_entry(&mut chain, system, &origin, &ts)?;
                    batch.push(e, system, true);
                }
            }
        }
        sign_batch(&mut batch.entries, &batch.signers);
        self.write_locked(file, cur, recovery, &batch.entries, chain)?;
        Ok(batch.into_results())
    }

    fn recovered_entry(
        &self,
        chain: &mut Chain,
        signer: &Signer,
        torn: &Torn,
        broken: &Path,
        ts: &str,
    ) -> Result<Entry> {
        let body = json!({
            "torn_bytes": torn.bytes.len(),
            "moved_to": broken.display().to_string(),
            "offset": torn.offset,
        });
        push_entry(chain, signer, KIND_RECOVERED, body, ts)
    }

    fn maybe_seal<'s>(&'s self, chain: &mut Chain, ts: &str, batch: &mut Batch<'s>) -> Result<()> {
        let (Some(n), Some(sealer)) = (self.opts.seal_every, self.opts.sealer.as_ref()) else {
            return Ok(());
        };
        // A sealer rotated out since this handle was opened (`agent rotate gantry` in another
        // process) can no longer sign: the seal is left to a holder of the current key
        // rather than failing the caller's entries.
        if n > 0 && chain.seq.is_multiple_of(n) && can_sign(chain, sealer) {
            let origin = chain.origin().unwrap_or(&self.opts.origin).to_string();
            batch.push(seal_entry(chain, sealer, &origin, ts)?, sealer, false);
        }
        Ok(())
    }

    /// Moves a torn tail aside, then writes all lines with one write and one fsync. If any
    /// step fails, the file is put back as the batch found it and the copy of the torn
    /// tail is removed, so a failed append leaves nothing behind (not even an empty
    /// `.broken.N`); only if that too fails does the copy stay, as the bytes' safe place.
    fn write_locked(
        &self,
        file: &File,
        cur: &mut Cursor,
        recovery: Option<(Torn, PathBuf)>,
        entries: &[Entry],
        chain: Chain,
    ) -> Result<()> {
        let mut buf = Vec::with_capacity(entries.len() * 512);
        for e in entries {
            buf.extend_from_slice(e.to_line()?.as_bytes());
        }
        let (start, torn_bytes, broken) = match &recovery {
            Some((torn, broken)) => {
                copy_aside(&torn.bytes, broken)?;
                (torn.offset, torn.bytes.as_slice(), Some(broken.as_path()))
            }
            None => (cur.offset, &[][..], None),
        };
        let written = (|| {
            let mut f = file;
            if broken.is_some() {
                file.set_len(start)?;
                file.sync_all()?;
            }
            f.write_all(&buf)?;
            file.sync_data()
        })();
        if let Err(source) = written {
            let err = LedgerError::Io {
                path: self.path.clone(),
                source,
            };
            let restored = (|| {
                let mut f = file;
                file.set_len(start)?;
                f.write_all(torn_bytes)?;
                file.sync_all()
            })();
            return match (restored, broken) {
                (Ok(()), Some(broken)) => {
                    let _ = std::fs::remove_file(broken);
                    let _ = sync_parent(broken);
                    Err(err)
                }
                (Ok(()), None) => Err(err),
                (Err(again), _) => Err(LedgerError::Corrupt {
                    path: self.path.clone(),
                    line: cur.lines + 1,
                    message: format!(
                        "append failed ({err}) and the file could not be put back ({again}); \
                         complete lines are valid entries, the unfinished tail is {}",
                        broken.map_or("still at the end".to_string(), |b| format!(
                            "copied to {}",
                            b.display()
                        ))
                    ),
                }),
            };
        }
        cur.offset = start + buf.len() as u64;
        cur.lines += entries.len() as u64;
        cur.chain = chain;
        Ok(())
    }

    /// All committed entries; an unterminated last line is ignored. Takes no lock.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        Ok(read_entries(&self.path)?.entries)
    }

    pub fn read(&self) -> Result<ReadOutcome> {
        read_entries(&self.path)
    }

    pub fn verify(&self) -> Result<crate::report::VerifyReport> {
        crate::verify::verify(&self.path)
    }
}

/// A batch's entries in file order with their signers, and which of them the caller asked
/// for (the rest are seals and recoveries the ledger adds).
struct Batch<'a> {
    entries: Vec<Entry>,
    signers: Vec<&'a Signer>,
    wanted: Vec<bool>,
}

impl<'a> Batch<'a> {
    fn with_capacity(n: usize) -> Self {
        Batch {
            entries: Vec::with_capacity(n),
            signers: Vec::with_capacity(n),
            wanted: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, e: Entry, signer: &'a Signer, wanted: bool) {
        self.entries.push(e);
        self.signers.push(signer);
        self.wanted.push(wanted);
    }

    fn into_results(self) -> Vec<Entry> {
        self.entries
            .into_iter()
            .zip(self.wanted)
            .filter_map(|(e, w)| w.then_some(e))
            .collect()
    }
}

/// Writes the torn bytes to a new file and makes them durable; on any failure the file is
/// removed again.
fn copy_aside(bytes: &[u8], broken: &Path) -> Result<()> {
    let mut bf = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(broken)
        .map_err(io_err(broken))?;
    let done = bf
        .write_all(bytes)
        .and_then(|()| bf.sync_all())
        .map_err(io_err(broken))
        .and_then(|()| sync_parent(broken));
    if done.is_err() {
        drop(bf);
        let _ = std::fs::remove_file(broken);
    }
    done
}

/// `<ledger>.broken`, or `<ledger>.broken.N` if earlier recoveries already used it.
fn broken_path(path: &Path) -> PathBuf {
    let base = format!("{}.broken", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1u32;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}
