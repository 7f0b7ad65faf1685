//! Ledger writes for a run: one writer thread that commits whatever has queued up as one
//! batch (one lock, one fsync), so a run of many short steps does not pay an fsync per
//! transition. Step transitions are queued without waiting and linger briefly so that a
//! burst of short steps shares a batch; the engine waits for durability (`flush`) at stage
//! boundaries, checkpoints and the end of the run, which commits at once. Every body is
//! masked before it is signed.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use gantry_ledger::{Entry, Ledger, NewEntry, Signer};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::error::PipelineError;
use crate::mask::Masker;

type Ack = oneshot::Sender<Result<Option<Entry>, String>>;

/// How long a queued transition waits for company before it is written. Without it the
/// writer, idle between steps, would commit (lock, re-read the tail, fsync) each entry on
/// its own: two fsyncs per step, the larger part of a short step's cost. Short enough that
/// whoever tails the ledger (`gantry runs`, a signer, a test) sees a step start at once,
/// and nobody waiting for durability waits for it: a `flush` or `commit` ends the linger.
const LINGER: Duration = Duration::from_millis(50);
/// Most entries in one batch, so a flood cannot hold entries back indefinitely.
const MAX_BATCH: usize = 512;

enum Msg {
    Entry(Arc<Signer>, NewEntry, Option<Ack>),
    Flush(Ack),
}

impl Msg {
    /// Someone waits for this message to be durable.
    fn awaited(&self) -> bool {
        matches!(self, Msg::Entry(_, _, Some(_)) | Msg::Flush(_))
    }
}

#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    masker: Masker,
    ledger: Arc<Ledger>,
}

impl Recorder {
    pub fn new(ledger: Arc<Ledger>, masker: Masker) -> Recorder {
        let (tx, rx) = mpsc::channel::<Msg>();
        let writer = ledger.clone();
        std::thread::spawn(move || write_loop(&writer, &rx));
        Recorder { tx, masker, ledger }
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Queues an entry; a write failure surfaces at the next `flush` or `commit`.
    pub fn record(&self, signer: &Arc<Signer>, kind: &str, body: &Value) {
        let entry = NewEntry::new(kind, self.masker.mask_json(body));
        let _ = self.tx.send(Msg::Entry(signer.clone(), entry, None));
    }

    /// Appends an entry and waits until it (and everything queued before it) is durable.
    pub async fn commit(
        &self,
        signer: &Arc<Signer>,
        kind: &str,
        body: &Value,
    ) -> Result<Entry, PipelineError> {
        let (ack, wait) = oneshot::channel();
        let entry = NewEntry::new(kind, self.masker.mask_json(body));
        self.tx
            .send(Msg::Entry(signer.clone(), entry, Some(ack)))
            .map_err(|_| PipelineError::Record("the ledger writer stopped".into()))?;
        match wait.await {
            Ok(Ok(Some(entry))) => Ok(entry),
            Ok(Ok(None)) => Err(PipelineError::Record("no entry written".into())),
            Ok(Err(e)) => Err(PipelineError::Record(e)),
            Err(_) => Err(PipelineError::Record("the ledger writer stopped".into())),
        }
    }

    /// Waits until everything queued so far is durable.
    pub async fn flush(&self) -> Result<(), PipelineError> {
        let (ack, wait) = oneshot::channel();
        self.tx
            .send(Msg::Flush(ack))
            .map_err(|_| PipelineError::Record("the ledger writer stopped".into()))?;
        match wait.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(PipelineError::Record(e)),
            Err(_) => Err(PipelineError::Record("the ledger writer stopped".into())),
        }
    }
}

/// The batch that starts with FIRST: everything queued meanwhile, waiting up to LINGER
/// for more unless a message in it is awaited (or the batch is full, or the run is over).
fn gather(rx: &mpsc::Receiver<Msg>, first: Msg, linger: Duration) -> Vec<Msg> {
    let deadline = Instant::now() + linger;
    let mut awaited = first.awaited();
    let mut batch = vec![first];
    loop {
        while let Ok(more) = rx.try_recv() {
            awaited |= more.awaited();
            batch.push(more);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if awaited || batch.len() >= MAX_BATCH || left.is_zero() {
            return batch;
        }
        match rx.recv_timeout(left) {
            Ok(more) => {
                awaited |= more.awaited();
                batch.push(more);
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return batch,
        }
    }
}

fn write_loop(ledger: &Ledger, rx: &mpsc::Receiver<Msg>) {
    // The first failure sticks: later entries would chain onto a gap in the evidence.
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let batch = gather(rx, first, LINGER);
        let mut items = Vec::new();
        let mut acks: Vec<(Option<usize>, Ack)> = Vec::new();
        for msg in batch {
            match msg {
                Msg::Entry(signer, entry, ack) => {
                    items.push((signer, entry));
                    if let Some(ack) = ack {
                        acks.push((Some(items.len() - 1), ack));
                    }
                }
                Msg::Flush(ack) => acks.push((None, ack)),
            }
        }
        let written = if failed.is_some() || items.is_empty() {
            Vec::new()
        } else {
            let refs: Vec<(&Signer, NewEntry)> =
                items.iter().map(|(s, e)| (s.as_ref(), e.clone())).collect();
            match ledger.append_mixed(refs) {
                Ok(entries) => entries,
                Err(e) => {
                    failed = Some(e.to_string());
                    Vec::new()
                }
            }
        };
        // Seals the ledger adds on its own are interleaved; find ours by position among
        // the non-seal entries.
        let ours: Vec<&Entry> = written
            .iter()
            .filter(|e| {
                e.kind != gantry_ledger::KIND_SEALED && e.kind != gantry_ledger::KIND_RECOVERED
            })
            .collect();
        for (index, ack) in acks {
            let result = match &failed {
                Some(e) => Err(e.clone()),
                None => Ok(index.and_then(|i| ours.get(i).map(|e| (*e).clone()))),
            };
            let _ = ack.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> Msg {
        let signer = Signer::new("operator", "Op", gantry_ledger::generate_key());
        let body = serde_json::json!({ "n": n });
        Msg::Entry(
            Arc::new(signer),
            NewEntry::new("step.state.started", body),
            None,
        )
    }

    #[test]
    fn transitions_linger_to_share_a_batch() {
        let (tx, rx) = mpsc::channel();
        tx.send(entry(2)).unwrap();
        let later = tx.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            later.send(entry(3)).unwrap();
        });
        let started = Instant::now();
        let batch = gather(&rx, entry(1), Duration::from_millis(300));
        sender.join().unwrap();
        assert_eq!(batch.len(), 3, "the late entry joined the batch");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn a_flush_ends_the_linger() {
        let (tx, rx) = mpsc::channel();
        let (ack, _wait) = oneshot::channel();
        tx.send(entry(2)).unwrap();
        tx.send(Msg::Flush(ack)).unwrap();
        let started = Instant::now();
        let batch = gather(&rx, entry(1), Duration::from_secs(60));
        assert_eq!(batch.len(), 3);
        assert!(started.elapsed() < Duration::from_secs(30));
        // And when nobody sends anything more, the run being over ends it too.
        drop(tx);
        assert_eq!(gather(&rx, entry(4), Duration::from_secs(60)).len(), 1);
    }
}
