//! Waiting for a manual checkpoint's decision, written to the ledger by `gantry sign` from
//! any process. The ledger is only ever appended to, so each poll reads just the bytes
//! added since the previous one (complete lines only: a line still being written is read
//! whole on a later poll) instead of re-reading the file.

use std::path::Path;
use std::sync::{Arc, Mutex};

use gantry_ledger::{Entry, Follower};
use gantry_state::State;
use serde_json::Value;

/// Reads a ledger file forward from where the last read stopped, as entries.
pub(crate) struct Tail(Follower);

impl Tail {
    /// A tail whose first read covers the whole file.
    pub fn new(path: &Path) -> Tail {
        Tail(Follower::new(path))
    }

    /// Whether the last read started over because the file got shorter (replaced or cut
    /// back). Callers filter by seq, so entries seen twice do no harm.
    pub fn rewound(&self) -> bool {
        self.0.rewound
    }

    /// Entries on the complete lines appended since the last read, keeping only lines for
    /// which `keep` (a cheap test on the raw text) holds; lines that do not parse are
    /// skipped (finding those is `ledger verify`'s job, not a waiting run's).
    pub fn read_new(&mut self, keep: impl Fn(&str) -> bool) -> std::io::Result<Vec<Entry>> {
        let lines = self
            .0
            .read_lines(|l| std::str::from_utf8(l).is_ok_and(&keep))?;
        Ok(lines
            .iter()
            .filter_map(|l| Entry::parse_line(std::str::from_utf8(l).ok()?).ok())
            .collect())
    }
}

/// A decision found in the ledger for a manual checkpoint.
#[derive(Clone, Debug)]
pub struct Signed {
    pub approve: bool,
    pub summary: String,
    pub tokens_used: u64,
}

/// The state folded so far and where the file was read up to.
struct Folded {
    tail: Tail,
    state: State,
}

/// Looks for an admitted `checkpoint.signed` or `checkpoint.vetoed` of one run's stage after
/// a seq. Every entry is folded into a [`State`], so a decision counts only if the rule table
/// ([`gantry_state::authority`]) admits its signer: a forged approval by another role is
/// read, rejected and waited past, exactly as `gantry runs` and `ledger verify` see it.
pub(crate) struct SignatureWatch {
    folded: Arc<Mutex<Folded>>,
    run: String,
    stage: String,
    after_seq: u64,
}

impl SignatureWatch {
    pub fn new(ledger: &Path, run: &str, stage: &str, after_seq: u64) -> SignatureWatch {
        SignatureWatch {
            folded: Arc::new(Mutex::new(Folded {
                tail: Tail::new(ledger),
                state: State::default(),
            })),
            run: run.to_string(),
            stage: stage.to_string(),
            after_seq,
        }
    }

    /// One look at what was appended since the last one.
    pub async fn poll(&self) -> Result<Option<Signed>, String> {
        let folded = self.folded.clone();
        let (run, stage, after) = (self.run.clone(), self.stage.clone(), self.after_seq);
        // File I/O off the async workers; the mutex keeps a poll abandoned by a timeout
        // from racing the next one over the offset and the fold.
        tokio::task::spawn_blocking(move || {
            let mut folded = folded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Folded { tail, state } = &mut *folded;
            let entries = tail
                .read_new(|_| true)
                .map_err(|e| format!("reading the ledger: {e}"))?;
            if tail.rewound() {
                *state = State::default();
            }
            let mut found = None;
            for e in entries {
                let decides = e.seq > after
                    && (e.kind == "checkpoint.signed" || e.kind == "checkpoint.vetoed")
                    && e.body.get("run").and_then(Value::as_str) == Some(run.as_str())
                    && e.body.get("stage").and_then(Value::as_str) == Some(stage.as_str());
                if state.apply(&e) && decides && found.is_none() {
                    found = Some(decision(&e));
                }
            }
            Ok(found)
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Polls every `period` until a decision appears.
    pub async fn wait(&self, period: std::time::Duration) -> Result<Signed, String> {
        loop {
            if let Some(signed) = self.poll().await? {
                return Ok(signed);
            }
            tokio::time::sleep(period).await;
        }
    }
}

fn decision(e: &Entry) -> Signed {
    Signed {
        approve: e.kind == "checkpoint.signed",
        summary: e
            .body
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        tokens_used: e
            .body
            .get("tokens_used")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use gantry_ledger::{Ledger, Signer, generate_key};
    use serde_json::json;

    use super::*;

    fn ledger(dir: &Path) -> (Ledger, Signer) {
        let system = Signer::system(generate_key());
        let path = dir.join("ledger.jsonl");
        (Ledger::create(&path, &system, "test").unwrap(), system)
    }

    #[test]
    fn reads_only_what_was_appended_and_only_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, signer) = ledger(dir.path());
        let all = |_: &str| true;
        let mut tail = Tail::new(ledger.path());
        let first = tail.read_new(all).unwrap();
        assert!(!first.is_empty(), "the first read covers the file");
        assert!(tail.read_new(all).unwrap().is_empty());

        ledger.append(&signer, "a.one", json!({})).unwrap();
        ledger.append(&signer, "a.two", json!({})).unwrap();
        let kinds: Vec<String> = tail
            .read_new(all)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["a.one", "a.two"]);

        // Half a line (a writer mid-append) is left for later, then read once complete.
        let entry = ledger.append(&signer, "a.three", json!({})).unwrap();
        let line = entry.to_line().unwrap();
        let text = std::fs::read_to_string(ledger.path()).unwrap();
        let without = &text[..text.len() - line.len()];
        std::fs::write(ledger.path(), format!("{without}{}", &line[..10])).unwrap();
        let mut tail = Tail::new(ledger.path());
        let before = tail.read_new(all).unwrap().len();
        assert!(tail.read_new(all).unwrap().is_empty());
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ledger.path())
            .unwrap();
        f.write_all(&line.as_bytes()[10..]).unwrap();
        let got = tail.read_new(all).unwrap();
        assert_eq!(got.len(), 1, "{before} before");
        assert_eq!(got[0].kind, "a.three");
    }

    #[test]
    fn the_filter_and_garbage_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, signer) = ledger(dir.path());
        let mut tail = Tail::new(ledger.path());
        tail.read_new(|_| true).unwrap();
        ledger.append(&signer, "b.keep", json!({})).unwrap();
        ledger.append(&signer, "b.drop", json!({})).unwrap();
        // Written behind the ledger's back, as a damaged file would read.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(ledger.path())
            .unwrap();
        f.write_all(
            b"not json b.keep
",
        )
        .unwrap();
        let got = tail.read_new(|l| l.contains("b.keep")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, "b.keep");
        assert!(
            tail.read_new(|_| true).unwrap().is_empty(),
            "past the bad line"
        );
    }

    #[tokio::test]
    async fn finds_the_decision_for_its_run_and_stage_by_its_role_only() {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, system) = ledger(dir.path());
        let mut roles = Vec::new();
        for role in ["verifier", "planner"] {
            let signer = Signer::new(role, format!("{role}-agent"), generate_key());
            let body = gantry_ledger::registered_body(role, signer.id(), &signer.verifying_key());
            ledger.append(&system, "agent.registered", body).unwrap();
            roles.push(signer);
        }
        let (verifier, planner) = (&roles[0], &roles[1]);
        for run in ["r1", "r2"] {
            ledger
                .append(&system, "pipeline.state.started", json!({"run": run}))
                .unwrap();
        }
        let requested = ledger
            .append(
                &system,
                "checkpoint.requested",
                json!({"run": "r1", "stage": "s", "role": "verifier"}),
            )
            .unwrap();
        let watch = SignatureWatch::new(ledger.path(), "r1", "s", requested.seq);
        assert!(watch.poll().await.unwrap().is_none());
        for (run, stage) in [("r2", "s"), ("r1", "other")] {
            let body = json!({"run": run, "stage": stage});
            ledger.append(verifier, "checkpoint.signed", body).unwrap();
        }
        assert!(watch.poll().await.unwrap().is_none());
        // Signed by a role the checkpoint does not name: read, rejected, waited past.
        let forged = json!({"run": "r1", "stage": "s", "summary": "forged"});
        ledger.append(planner, "checkpoint.signed", forged).unwrap();
        assert!(watch.poll().await.unwrap().is_none());
        ledger
            .append(
                verifier,
                "checkpoint.vetoed",
                json!({"run": "r1", "stage": "s", "summary": "no", "tokens_used": 3}),
            )
            .unwrap();
        let d = watch.poll().await.unwrap().expect("the veto");
        assert!(!d.approve);
        assert_eq!((d.summary.as_str(), d.tokens_used), ("no", 3));
    }
}
