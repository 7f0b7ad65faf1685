#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gantry_ledger::{Entry, Ledger, LedgerOptions, Signer, generate_key};
use serde_json::json;

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub system: Signer,
    pub operator: Signer,
    pub ledger: Ledger,
}

/// A ledger with genesis (1), operator registration (2) and `n` operator entries (3..).
pub fn fixture(n: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.jsonl");
    let system = Signer::system(generate_key());
    let operator = Signer::new("operator", "OpsAgent", generate_key());
    let ledger = Ledger::create(&path, &system, "test.gantry").unwrap();
    ledger
        .register_agent(&system, "operator", "OpsAgent", &operator.verifying_key())
        .unwrap();
    for i in 0..n {
        ledger
            .append(&operator, "deployment.state.started", json!({"i": i}))
            .unwrap();
    }
    Fixture {
        dir,
        path,
        system,
        operator,
        ledger,
    }
}

pub fn no_seal_opts() -> LedgerOptions {
    LedgerOptions {
        seal_every: None,
        ..LedgerOptions::default()
    }
}

pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(path, s).unwrap();
}

/// Rewrites line `seq` (1-based) through `f` on its JSON value, keeping the line in
/// canonical form so only the change itself is there to be caught.
pub fn tamper_json(path: &Path, seq: usize, f: impl FnOnce(&mut serde_json::Value)) {
    let mut ls = lines(path);
    let mut v: serde_json::Value = serde_json::from_str(&ls[seq - 1]).unwrap();
    f(&mut v);
    let e: Entry = serde_json::from_value(v).unwrap();
    ls[seq - 1] = e.to_line().unwrap().trim_end().to_string();
    write_lines(path, &ls);
}

/// Rewrites entry `seq` through `f`, then recomputes its hash as a forger would.
pub fn tamper_rehash(path: &Path, seq: usize, f: impl FnOnce(&mut Entry)) {
    let mut ls = lines(path);
    let mut e = Entry::parse_line(&ls[seq - 1]).unwrap();
    f(&mut e);
    e.hash = hex::encode(e.compute_hash().unwrap());
    ls[seq - 1] = e.to_line().unwrap().trim_end().to_string();
    write_lines(path, &ls);
}

/// Builds and signs an entry by hand, bypassing the writer's checks.
pub fn forge(prev: &Entry, signer: &Signer, kind: &str, body: serde_json::Value) -> Entry {
    use base64::Engine;
    let mut e = Entry {
        seq: prev.seq + 1,
        ts: gantry_ledger::now_ts(),
        kind: kind.into(),
        actor: gantry_ledger::Actor {
            role: signer.role().into(),
            id: signer.id().into(),
            key: signer.fingerprint(),
        },
        body,
        prev: prev.hash.clone(),
        hash: String::new(),
        sig: String::new(),
    };
    let h = e.compute_hash().unwrap();
    e.hash = hex::encode(h);
    let sig = signer.sign(&gantry_ledger::signing_message(&h));
    e.sig = base64::engine::general_purpose::STANDARD.encode(sig.to_bytes());
    e
}

/// Recomputes `e`'s hash and signs it as `signer`, after a test changed it by hand.
pub fn resign(e: &mut Entry, signer: &Signer) {
    use base64::Engine;
    let h = e.compute_hash().unwrap();
    e.hash = hex::encode(h);
    let sig = signer.sign(&gantry_ledger::signing_message(&h));
    e.sig = base64::engine::general_purpose::STANDARD.encode(sig.to_bytes());
}

pub fn append_raw(path: &Path, e: &Entry) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(e.to_line().unwrap().as_bytes()).unwrap();
}
