//! Seals, inclusion and consistency proofs, and in-toto export.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use gantry_ledger::{
    Check, KIND_SEALED, Ledger, LedgerError, LedgerOptions, check_proof, consistency, intoto,
    note_verifier_key, prove, verify, verify_consistency,
};
use serde_json::json;

fn sealed_fixture() -> (Fixture, Ledger) {
    let fx = fixture(0);
    let opts = LedgerOptions {
        seal_every: Some(5),
        sealer: Some(fx.system.clone()),
        ..LedgerOptions::default()
    };
    let l = Ledger::open(&fx.path, opts).unwrap();
    for i in 0..20 {
        l.append(&fx.operator, "x.y", json!({"i": i})).unwrap();
    }
    (fx, l)
}

#[test]
fn automatic_seals_cover_all_previous_entries() {
    let (fx, l) = sealed_fixture();
    let entries = l.entries().unwrap();
    let seals: Vec<_> = entries.iter().filter(|e| e.kind == KIND_SEALED).collect();
    assert!(!seals.is_empty());
    for s in &seals {
        assert_eq!(s.seq % 5, 1, "seal follows a multiple of 5");
        assert_eq!(s.body["size"], s.seq - 1);
        assert_eq!(s.actor.role, "gantry");
    }
    let r = verify(&fx.path).unwrap();
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(r.seals, seals.len() as u64);
}

#[test]
fn inclusion_proofs_check_offline_and_fail_when_altered() {
    let (fx, l) = sealed_fixture();
    l.seal(&fx.system).unwrap();
    let entries = l.entries().unwrap();
    let vkey = note_verifier_key("test.gantry", &fx.system.verifying_key());
    for seq in [1, 2, 7, 13, entries.len() as u64 - 1] {
        let p = prove(&entries, seq).unwrap();
        assert_eq!(p.entry_hash, entries[seq as usize - 1].hash);
        check_proof(&p, &vkey).unwrap();
        let back: gantry_ledger::InclusionProof =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        check_proof(&back, &vkey).unwrap();

        let mut bad = p.clone();
        bad.entry_hash = entries[0].hash.clone();
        if seq != 1 {
            assert!(check_proof(&bad, &vkey).is_err());
        }
        if !p.proof.is_empty() {
            let mut bad = p.clone();
            bad.proof[0] = "00".repeat(32);
            assert!(check_proof(&bad, &vkey).is_err());
        }
        let mut bad = p.clone();
        bad.checkpoint = bad
            .checkpoint
            .replacen(&format!("\n{}\n", p.tree_size), "\n1\n", 1);
        assert!(check_proof(&bad, &vkey).is_err());
    }
    let other = note_verifier_key("test.gantry", &fx.operator.verifying_key());
    assert!(check_proof(&prove(&entries, 3).unwrap(), &other).is_err());
}

#[test]
fn prove_without_a_covering_seal_names_the_seal_command() {
    let fx = fixture(3);
    let entries = fx.ledger.entries().unwrap();
    let err = prove(&entries, 2).unwrap_err();
    assert!(matches!(err, LedgerError::NoSeal { .. }));
    assert!(err.to_string().contains("gantry ledger seal"), "{err}");
    fx.ledger.seal(&fx.system).unwrap();
    let entries = fx.ledger.entries().unwrap();
    assert!(prove(&entries, 5).is_ok());
    assert!(
        prove(&entries, 6).is_err(),
        "the seal does not cover itself"
    );
}

#[test]
fn consistency_between_seals() {
    let (fx, l) = sealed_fixture();
    let entries = l.entries().unwrap();
    let sizes: Vec<u64> = entries
        .iter()
        .filter(|e| e.kind == KIND_SEALED)
        .map(|e| e.body["size"].as_u64().unwrap())
        .collect();
    let vkey = note_verifier_key("test.gantry", &fx.system.verifying_key());
    let (old, new) = (sizes[0], *sizes.last().unwrap());
    let p = consistency(&entries, old, new).unwrap();
    verify_consistency(&p, Some(&vkey)).unwrap();
    verify_consistency(&p, None).unwrap();
    let mut bad = p.clone();
    bad.proof[0] = "11".repeat(32);
    assert!(verify_consistency(&bad, None).is_err());
    // Sizes without seals prove fine mathematically but carry no signed checkpoint.
    let q = consistency(&entries, 3, 9).unwrap();
    verify_consistency(&q, None).unwrap();
    assert!(verify_consistency(&q, Some(&vkey)).is_err());
}

#[test]
fn forged_seal_with_wrong_root_is_a_seal_failure() {
    let fx = fixture(4);
    let last = fx.ledger.entries().unwrap().pop().unwrap();
    let size = last.seq;
    let root = [9u8; 32];
    let note =
        gantry_ledger::note::sign_checkpoint("test.gantry", size, &root, fx.system.signing_key());
    let body = json!({"size": size, "root": STANDARD.encode(root), "checkpoint": note});
    append_raw(&fx.path, &forge(&last, &fx.system, KIND_SEALED, body));
    let f = verify(&fx.path).unwrap().failure.unwrap();
    assert_eq!((f.seq, f.check), (Some(size + 1), Check::Seal));
}

#[test]
fn seal_by_non_system_key_is_refused() {
    let fx = fixture(2);
    assert!(fx.ledger.seal(&fx.operator).is_err());
}

#[test]
fn intoto_export_verifies() {
    let fx = fixture(3);
    let entries = fx.ledger.entries().unwrap();
    let mut out = Vec::new();
    intoto::export(&entries, &fx.system, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), entries.len());
    let key = fx.system.verifying_key();
    for (line, e) in lines.iter().zip(&entries) {
        let env: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
        assert_eq!(env["signatures"][0]["keyid"], fx.system.fingerprint());
        let st = intoto::verify_envelope(line, &key).unwrap();
        assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(st["predicateType"], "https://gantry.dev/ledger-entry/v1");
        assert_eq!(st["subject"][0]["name"], format!("ledger#{}", e.seq));
        assert_eq!(st["subject"][0]["digest"]["sha256"], e.hash);
        assert_eq!(st["predicate"]["hash"], e.hash);
    }
    let tampered = lines[1].replacen("\"payload\":\"", "\"payload\":\"AAAA", 1);
    assert!(intoto::verify_envelope(&tampered, &key).is_err());
    assert!(intoto::verify_envelope(lines[1], &fx.operator.verifying_key()).is_err());
}
