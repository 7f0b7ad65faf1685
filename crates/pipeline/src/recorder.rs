//! Ledger writes for a run: one writer thread that commits whatever has queued up as one
//! batch (one lock, one fsync), so a run of many short steps does not pay an fsync per
//! transition. Step transitions are queued without waiting and linger briefly so that a
//! burst of short steps shares a batch; the engine waits for durability (`flush`) at stage
//! boundaries, checkpoints and the end of the run, which commits at once. Every body is
//! masked before it is signed.

use std::sync::Arc;
use std::time::Duration;

use gantry_ledger::{Entry, Ledger, NewEntry, Signer};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::error::PipelineError;
use crate::mask::Masker;
use crate::queue::Queue;

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
    /// An entry whose durability someone wants to hear of without hurrying it.
    Noted(Arc<Signer>, NewEntry, Ack),
    Flush(Ack),
}

impl Msg {
    /// Someone waits for this message to be durable.
    fn awaited(&self) -> bool {
        matches!(self, Msg::Entry(_, _, Some(_)) | Msg::Flush(_))
    }
}

/// The sending side; when the last recorder goes, the writer finishes and stops.
struct Sender(Arc<Queue<Msg>>);

impl Sender {
    fn send(&self, msg: Msg) -> Result<(), ()> {
        let urgent = msg.awaited();
        self.0.push(msg, urgent);
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[derive(Clone)]
pub struct Recorder {
    tx: Arc<Sender>,
    masker: Masker,
    ledger: Arc<Ledger>,
}

impl Recorder {
    pub fn new(ledger: Arc<Ledger>, masker: Masker) -> Recorder {
        let queue = Arc::new(Queue::new(MAX_BATCH));
        let (writer, rx) = (ledger.clone(), queue.clone());
        std::thread::spawn(move || write_loop(&writer, &rx));
        Recorder {
            tx: Arc::new(Sender(queue)),
            masker,
            ledger,
        }
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

    /// Queues an entry like `record` (it still lingers for company) and returns what will
    /// say once it is durable, or why it is not: the live view shows a step's ✓ only then.
    pub fn record_noted(
        &self,
        signer: &Arc<Signer>,
        kind: &str,
        body: &Value,
    ) -> oneshot::Receiver<Result<Option<Entry>, String>> {
        let (ack, wait) = oneshot::channel();
        let entry = NewEntry::new(kind, self.masker.mask_json(body));
        let _ = self.tx.send(Msg::Noted(signer.clone(), entry, ack));
        wait
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

/// Should the writer thread die, waiters get an error instead of waiting forever.
struct Abandon<'a>(&'a Queue<Msg>);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

fn write_loop(ledger: &Ledger, queue: &Queue<Msg>) {
    let _abandon = Abandon(queue);
    // The first failure sticks: later entries would chain onto a gap in the evidence.
    let mut failed: Option<String> = None;
    while let Some(batch) = queue.next_batch(LINGER) {
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
                Msg::Noted(signer, entry, ack) => {
                    items.push((signer, entry));
                    acks.push((Some(items.len() - 1), ack));
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
    use gantry_ledger::generate_key;
    use serde_json::json;

    fn setup() -> (tempfile::TempDir, Arc<Ledger>, Arc<Signer>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        let system = Signer::system(generate_key());
        let ledger = Arc::new(Ledger::create(&path, &system, "t").unwrap());
        (dir, ledger, Arc::new(system))
    }

    #[tokio::test]
    async fn a_noted_entry_is_on_disk_when_its_notice_comes() {
        let (_dir, ledger, signer) = setup();
        let recorder = Recorder::new(ledger.clone(), Masker::default());
        let notice = recorder.record_noted(&signer, "x.step", &json!({"n": 1}));
        let entry = notice.await.unwrap().unwrap().unwrap();
        let text = std::fs::read_to_string(ledger.path()).unwrap();
        assert!(text.contains(&entry.hash), "{text}");
    }

    #[tokio::test]
    async fn a_noted_entry_that_cannot_be_written_says_why() {
        let (_dir, ledger, _) = setup();
        let recorder = Recorder::new(ledger, Masker::default());
        let stranger = Arc::new(Signer::new("operator", "Nobody", generate_key()));
        let notice = recorder.record_noted(&stranger, "x.step", &json!({}));
        let err = notice.await.unwrap().unwrap_err();
        assert!(err.contains("no key valid"), "{err}");
    }
}
