//! Group commit for a long-running process: concurrent `append` calls from many threads are
//! gathered by one thread into a single write + fsync. A failure that may have reached the
//! file (I/O, fsync, a file changed under it) stops the committer for good: every later
//! append fails with that first error. Refusals (an unregistered signer, a bad entry) wrote
//! nothing and fail only their own caller.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread;

use serde_json::Value;

use crate::entry::{Entry, NewEntry};
use crate::error::{LedgerError, Result};
use crate::keys::Signer;
use crate::ledger::Ledger;

/// Most entries gathered into one write.
const MAX_GROUP: usize = 4096;

/// One caller's entries, written together and in order (never split across writes).
struct Request {
    items: Vec<(Arc<Signer>, NewEntry)>,
    reply: SyncSender<Result<Vec<Entry>>>,
}

impl Request {
    fn items(&self) -> impl Iterator<Item = (&Signer, NewEntry)> {
        self.items.iter().map(|(s, e)| (s.as_ref(), e.clone()))
    }
}

/// Cloneable handle; the committer thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct GroupCommitter {
    tx: Sender<Request>,
    path: Arc<std::path::Path>,
}

impl GroupCommitter {
    pub fn new(ledger: Arc<Ledger>) -> Result<Self> {
        let (tx, rx) = mpsc::channel();
        let path = ledger.path().to_path_buf();
        thread::Builder::new()
            .name("gantry-ledger-commit".into())
            .spawn(move || run(&ledger, rx))
            .map_err(|source| LedgerError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(GroupCommitter {
            tx,
            path: path.into(),
        })
    }

    /// The ledger file it appends to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends one entry; returns once it is durable.
    pub fn append(&self, signer: &Signer, kind: &str, body: Value) -> Result<Entry> {
        self.append_shared(Arc::new(signer.clone()), NewEntry::new(kind, body))
    }

    /// As `append`, without cloning the signer per call.
    pub fn append_shared(&self, signer: Arc<Signer>, entry: NewEntry) -> Result<Entry> {
        self.append_batch(vec![(signer, entry)])?
            .pop()
            .ok_or_else(|| LedgerError::GroupCommit("no entry written".into()))
    }

    /// Appends entries in the order given, in one write and one fsync (so their
    /// timestamps are as close as the clock makes them); returns once all are durable.
    /// All or none: a refusal of one refuses the batch.
    pub fn append_batch(&self, items: Vec<(Arc<Signer>, NewEntry)>) -> Result<Vec<Entry>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Request { items, reply })
            .map_err(|_| LedgerError::CommitterStopped)?;
        rx.recv().map_err(|_| LedgerError::CommitterStopped)?
    }
}

fn run(ledger: &Ledger, rx: Receiver<Request>) {
    // The first failure that may have reached the file sticks: after a failed write or
    // fsync nobody knows what is on disk (Linux may drop the dirty pages and report
    // success to a retried fsync), and later entries would chain onto that gap.
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        let mut count = group[0].items.len();
        while count < MAX_GROUP {
            match rx.try_recv() {
                Ok(r) => {
                    count += r.items.len();
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        if let Some(first_error) = &failed {
            for r in &group {
                let _ = r.reply.send(Err(LedgerError::GroupCommit(format!(
                    "an earlier append failed, so the committer accepts no more: {first_error}"
                ))));
            }
            continue;
        }
        let items: Vec<(&Signer, NewEntry)> = group.iter().flat_map(Request::items).collect();
        match ledger.append_mixed(items) {
            Ok(entries) => {
                let mut entries = entries.into_iter();
                for r in &group {
                    let mine: Vec<Entry> = entries.by_ref().take(r.items.len()).collect();
                    let _ = r.reply.send(Ok(mine));
                }
            }
            // Nothing reached the file: retry one by one so each caller gets its own verdict.
            Err(err) if is_rejection(&err) && group.len() > 1 => {
                for r in &group {
                    let res = match &failed {
                        Some(first) => Err(LedgerError::GroupCommit(format!(
                            "an earlier append failed, so the committer accepts no more: {first}"
                        ))),
                        None => ledger.append_mixed(r.items().collect()),
                    };
                    if let Err(e) = &res
                        && failed.is_none()
                        && !is_rejection(e)
                    {
                        failed = Some(e.to_string());
                    }
                    let _ = r.reply.send(res);
                }
            }
            Err(err) if is_rejection(&err) => {
                let _ = group[0].reply.send(Err(err));
            }
            Err(err) => {
                let msg = err.to_string();
                failed = Some(msg.clone());
                if let [only] = group.as_slice() {
                    let _ = only.reply.send(Err(err));
                } else {
                    for r in &group {
                        let _ = r.reply.send(Err(LedgerError::GroupCommit(msg.clone())));
                    }
                }
            }
        }
    }
}

/// Errors raised before anything is written, so retrying cannot duplicate entries.
fn is_rejection(err: &LedgerError) -> bool {
    matches!(
        err,
        LedgerError::UnregisteredSigner { .. }
            | LedgerError::Registry(_)
            | LedgerError::Key(_)
            | LedgerError::InvalidEntry(_)
    )
}
