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

/// Signs `msg` with nonce point `R = [r]B + T` for the torsion point `T = EIGHT_TORSION[t]`,
/// as only the holder of `key` can. Cofactored checks accept it; strict Ed25519 does not
/// (unless t = 0), and batch verification accepts it for some batches and not others.
pub fn torsion_signature(key: &ed25519_dalek::SigningKey, msg: &[u8], t: usize) -> [u8; 64] {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};
    let h = Sha512::digest(key.to_bytes());
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(msg).into());
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[t]).compress();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(key.verifying_key().as_bytes())
            .chain_update(msg)
            .finalize()
            .into(),
    );
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice((r + k * a).as_bytes());
    sig
}

pub fn append_raw(path: &Path, e: &Entry) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(e.to_line().unwrap().as_bytes()).unwrap();
}
