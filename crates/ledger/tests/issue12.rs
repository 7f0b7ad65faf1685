//! Issue 12: evidence an auditor can rely on. Each test names the gap it closes.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use gantry_ledger::{
    Check, Entry, Identity, KIND_REGISTERED, KIND_ROTATED, KIND_SEALED, Ledger, LedgerError,
    LedgerOptions, Signer, VerifyReport, check_consistency, consistency, generate_key,
    note_verifier_key, registered_body, rotated_body, signing_message, verify, verify_against,
    verify_consistency,
};
use gantry_test_support::forge::torsion_signature;
use serde_json::{Value, json};

fn report(fx: &Fixture) -> VerifyReport {
    verify(&fx.path).unwrap()
}

#[track_caller]
fn fails_at(fx: &Fixture, line: u64, check: Check, needle: &str) {
    let r = report(fx);
    let f = r
        .failure
        .unwrap_or_else(|| panic!("verifies, expected {check} at line {line}"));
    assert_eq!((f.line, f.check), (line, check), "{f}");
    assert!(f.message.contains(needle), "{needle:?} not in: {f}");
    assert_eq!(r.entries, line - 1);
}

/// Appends `e` after resigning it as `signer` (a forger holding that key).
fn append_signed(fx: &Fixture, mut e: Entry, signer: &Signer) -> Entry {
    resign(&mut e, signer);
    append_raw(&fx.path, &e);
    e
}

fn last(fx: &Fixture) -> Entry {
    Entry::parse_line(lines(&fx.path).last().unwrap()).unwrap()
}

#[test]
fn issue12_torsion_signature_gets_the_same_strict_verdict_at_every_position() {
    let fx = fixture(3);
    let mut e = forge(&last(&fx), &fx.operator, "x.torsion", json!({"n": 1}));
    // Order-2 torsion: a batch check with random coefficients accepts it half the time.
    let msg = signing_message(&e.hash_bytes().unwrap());
    let raw = torsion_signature(fx.operator.signing_key(), &msg, 4);
    e.sig = STANDARD.encode(raw);
    append_raw(&fx.path, &e);
    let sig = ed25519_dalek::Signature::from_bytes(&raw);
    let key = fx.operator.verifying_key();
    assert!(key.verify_strict(&msg, &sig).is_err());
    let mut batch_accepted = 0;
    for i in 0..31 {
        fails_at(&fx, e.seq, Check::Signature, "strict Ed25519");
        // What the old verifier did: the same signature batched with different neighbours.
        let mut msgs = vec![msg];
        let mut sigs = vec![sig];
        for l in lines(&fx.path).iter().skip(e.seq as usize) {
            let other = Entry::parse_line(l).unwrap();
            msgs.push(signing_message(&other.hash_bytes().unwrap()));
            sigs.push(other.signature().unwrap());
        }
        let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
        if ed25519_dalek::verify_batch(&refs, &sigs, &vec![key; sigs.len()]).is_ok() {
            batch_accepted += 1;
        }
        append_raw(
            &fx.path,
            &forge(&last(&fx), &fx.operator, "x.after", json!({"i": i})),
        );
    }
    assert!(
        batch_accepted > 0,
        "the crafted signature should fool batch verification for some batches"
    );
    // The eight torsion points: only the torsion-free nonce is a valid signature.
    for t in 0..8 {
        let fx = fixture(1);
        let mut e = forge(&last(&fx), &fx.operator, "x.t", json!({"t": t}));
        let msg = signing_message(&e.hash_bytes().unwrap());
        e.sig = STANDARD.encode(torsion_signature(fx.operator.signing_key(), &msg, t));
        append_raw(&fx.path, &e);
        assert_eq!(report(&fx).is_ok(), t == 0, "torsion point {t}");
    }
}

#[test]
fn issue12_integer_beyond_2_53_is_refused_by_writer_and_reader() {
    let fx = fixture(2);
    let err = fx
        .ledger
        .append(
            &fx.operator,
            "x.big",
            json!({"order": {"amount": 9007199254740993u64}}),
        )
        .unwrap_err();
    assert!(matches!(err, LedgerError::InvalidEntry(_)), "{err}");
    assert!(err.to_string().contains("body.order.amount"), "{err}");
    assert_eq!(lines(&fx.path).len(), 4, "nothing was written");
    fx.ledger
        .append(
            &fx.operator,
            "x.big",
            json!({"n": 9007199254740991u64, "s": "9007199254740993"}),
        )
        .unwrap();
    assert!(report(&fx).is_ok());

    // A line written by a writer that did not refuse it: hashed as the double 2^53, so
    // …993 and …992 shared one hash and either could be swapped in.
    let mut e = forge(&last(&fx), &fx.operator, "x.big", json!({}));
    e.body = json!({"n": 9007199254740993u64});
    let e = append_signed(&fx, e, &fx.operator);
    fails_at(&fx, e.seq, Check::Parse, "beyond ±(2^53−1)");
    let mut ls = lines(&fx.path);
    let last_line = ls.pop().unwrap();
    ls.push(last_line.replace("9007199254740993", "9007199254740992"));
    write_lines(&fx.path, &ls);
    fails_at(&fx, e.seq, Check::Parse, "body.n");
}

#[test]
fn issue12_numbers_have_one_spelling() {
    let fx = fixture(1);
    // A writer given 2.0 stores 2, and returns what readers will read.
    let e = fx
        .ledger
        .append(
            &fx.operator,
            "x.f",
            json!({"a": 2.0, "b": 0.5, "c": [1e-7]}),
        )
        .unwrap();
    let stored = lines(&fx.path).pop().unwrap();
    assert!(
        stored.contains(r#""body":{"a":2,"b":0.5,"c":[1e-7]}"#),
        "{stored}"
    );
    assert_eq!(Entry::parse_line(&stored).unwrap(), e);
    // Respelling a number keeps the value (and the hash) but not the line.
    let mut ls = lines(&fx.path);
    let n = ls.len();
    ls[n - 1] = stored.replace(r#""a":2,"#, r#""a":2.0,"#);
    write_lines(&fx.path, &ls);
    fails_at(
        &fx,
        n as u64,
        Check::Parse,
        "not in canonical form at column",
    );
}

#[test]
fn issue12_reader_refuses_fields_in_another_order() {
    let fx = fixture(3);
    let mut ls = lines(&fx.path);
    let v: Value = serde_json::from_str(&ls[3]).unwrap();
    // serde_json's map sorts the keys: same values, same hash and signature, other order.
    ls[3] = serde_json::to_string(&v).unwrap();
    assert!(ls[3].starts_with("{\"actor\""));
    write_lines(&fx.path, &ls);
    fails_at(&fx, 4, Check::Parse, "fields must be seq, ts, kind, actor");
    let mut ls = lines(&fx.path);
    ls[3] = ls[4].replace(
        r#"{"role":"operator","id":"OpsAgent""#,
        r#"{"id":"OpsAgent","role":"operator""#,
    );
    write_lines(&fx.path, &ls[..4]);
    fails_at(&fx, 4, Check::Parse, "actor: field \"id\"");
}

#[test]
fn issue12_reader_refuses_duplicate_body_keys() {
    let fx = fixture(3);
    let mut ls = lines(&fx.path);
    // Last-wins parsing would read {"i":1}, which the hash and signature cover.
    ls[3] = ls[3].replace(r#""body":{"i":1}"#, r#""body":{"i":0,"i":1}"#);
    write_lines(&fx.path, &ls);
    fails_at(&fx, 4, Check::Parse, "body: duplicate key \"i\"");
    let mut ls = lines(&fx.path);
    ls[3] = ls[4].replace(r#""seq":5,"#, r#""seq":5,"seq":5,"#);
    write_lines(&fx.path, &ls[..4]);
    fails_at(&fx, 4, Check::Parse, "field \"seq\" where \"ts\" must come");
}

#[test]
fn issue12_reader_refuses_loose_ts_and_kind() {
    for (field, value, needle) in [
        ("ts", "yesterday", "ts \"yesterday\" is not an RFC 3339"),
        ("ts", "", "ts \"\" is not"),
        ("ts", "2026-11-25T08:13:26Z", "with microseconds"),
        ("kind", "", "kind \"\" is not a dotted name"),
        ("kind", "deploy note", "is not a dotted name"),
    ] {
        let fx = fixture(1);
        let mut e = forge(&last(&fx), &fx.operator, "x.y", json!({}));
        match field {
            "ts" => e.ts = value.into(),
            _ => e.kind = value.into(),
        }
        let e = append_signed(&fx, e, &fx.operator);
        fails_at(&fx, e.seq, Check::Parse, needle);
        assert!(Entry::parse_line(&e.to_line().unwrap()).is_err());
    }
}

#[test]
fn issue12_reader_refuses_extra_fields_in_registry_bodies() {
    // agent.registered with something riding along.
    let fx = fixture(0);
    let key = generate_key().verifying_key();
    let mut body = registered_body("planner", "Plan", &key);
    body["note"] = json!("unexamined");
    let e = append_signed(
        &fx,
        forge(&last(&fx), &fx.system, KIND_REGISTERED, body.clone()),
        &fx.system,
    );
    fails_at(&fx, e.seq, Check::Key, "unexpected field \"note\"");
    assert!(fx.ledger.append(&fx.system, KIND_REGISTERED, body).is_err());

    // agent.rotated with an extra field.
    let fx = fixture(0);
    let mut body = rotated_body("operator", "OpsAgent", &fx.operator.fingerprint(), &key);
    body["why"] = json!(1);
    let e = append_signed(
        &fx,
        forge(&last(&fx), &fx.system, KIND_ROTATED, body),
        &fx.system,
    );
    fails_at(&fx, e.seq, Check::Key, "unexpected field \"why\"");

    // A genesis with an extra field, re-signed by its own key.
    let fx = fixture(0);
    let mut ls = lines(&fx.path);
    let mut g = Entry::parse_line(&ls[0]).unwrap();
    g.body["extra"] = json!(true);
    resign(&mut g, &fx.system);
    ls[0] = g.to_line().unwrap().trim_end().to_string();
    write_lines(&fx.path, &ls[..1]);
    fails_at(&fx, 1, Check::Genesis, "unexpected field \"extra\"");

    // A seal with an extra field.
    let fx = fixture(2);
    let s = fx.ledger.seal(&fx.system).unwrap();
    let mut ls = lines(&fx.path);
    let mut seal = s.clone();
    seal.body["comment"] = json!("x");
    resign(&mut seal, &fx.system);
    ls[s.seq as usize - 1] = seal.to_line().unwrap().trim_end().to_string();
    write_lines(&fx.path, &ls);
    fails_at(&fx, s.seq, Check::Seal, "unexpected field \"comment\"");
}

#[test]
fn issue12_report_stops_counting_at_the_first_failure() {
    let fx = fixture(0);
    let opts = LedgerOptions {
        seal_every: Some(50),
        sealer: Some(fx.system.clone()),
        ..LedgerOptions::default()
    };
    let l = Ledger::open(&fx.path, opts).unwrap();
    for i in 0..600 {
        l.append(&fx.operator, "x.y", json!({"i": i})).unwrap();
    }
    assert_eq!(report(&fx).seals, 12);
    // A bad signature early: the workers find it while the reader has gone far past it.
    let other = Entry::parse_line(&lines(&fx.path)[9]).unwrap().sig;
    tamper_json(&fx.path, 120, |v| v["sig"] = json!(other));
    let r = report(&fx);
    let f = r.failure.clone().unwrap();
    assert_eq!((f.line, f.check), (120, Check::Signature));
    assert_eq!(r.entries, 119);
    let seals_before = lines(&fx.path)[..119]
        .iter()
        .filter(|l| l.contains(KIND_SEALED))
        .count() as u64;
    assert_eq!((r.seals, seals_before), (2, 2));
    assert_eq!(
        r.last_hash,
        Entry::parse_line(&lines(&fx.path)[118]).unwrap().hash
    );
}

fn sealed(fx: &Fixture) -> Entry {
    fx.ledger.seal(&fx.system).unwrap()
}

fn note(seal: &Entry) -> String {
    seal.body["checkpoint"].as_str().unwrap().to_string()
}

#[test]
fn issue12_truncation_after_a_saved_checkpoint_is_caught() {
    let fx = fixture(8);
    let cp = note(&sealed(&fx));
    let size = 10;
    let r = verify_against(&fx.path, Some(&cp)).unwrap();
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(r.anchored.as_ref().unwrap().size, size);
    for i in 0..5 {
        fx.ledger
            .append(&fx.operator, "x.more", json!({"i": i}))
            .unwrap();
    }
    assert!(verify_against(&fx.path, Some(&cp)).unwrap().is_ok());

    // Delete the last entries, seal included: the chain alone still verifies.
    let ls = lines(&fx.path);
    write_lines(&fx.path, &ls[..7]);
    assert!(report(&fx).is_ok());
    let r = verify_against(&fx.path, Some(&cp)).unwrap();
    let f = r.failure.unwrap();
    assert_eq!((f.line, f.check), (8, Check::Checkpoint), "{f}");
    assert!(f.message.contains("truncated"), "{f}");
    assert_eq!(r.entries, 7);

    // A different history under the same key and origin does not extend it either.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("l.jsonl");
    let l = Ledger::create(&other, &fx.system, "test.gantry").unwrap();
    for i in 0..12 {
        l.append(&fx.system, "x.other", json!({"i": i})).unwrap();
    }
    let f = verify_against(&other, Some(&cp)).unwrap().failure.unwrap();
    assert_eq!((f.line, f.check), (1, Check::Checkpoint), "{f}");
    assert!(f.message.contains("rewritten"), "{f}");

    // A checkpoint of another log, or signed by a stranger, is refused.
    let stranger = generate_key();
    let forged = gantry_ledger::note::sign_checkpoint("test.gantry", 3, &[0; 32], &stranger);
    let f = verify_against(&fx.path, Some(&forged))
        .unwrap()
        .failure
        .unwrap();
    assert!(f.message.contains("not signed by any system key"), "{f}");
    let f = verify_against(&fx.path, Some(&cp.replace("test.gantry", "other.log")))
        .unwrap()
        .failure
        .unwrap();
    assert!(f.message.contains("for log \"other.log\""), "{f}");
    assert!(matches!(
        verify_against(&fx.path, Some("not a note")),
        Err(LedgerError::Note(_))
    ));
}

#[test]
fn issue12_consistency_from_size_zero_proves_nothing() {
    let fx = fixture(4);
    let s = sealed(&fx);
    let entries = fx.ledger.entries().unwrap();
    assert!(consistency(&entries, 0, s.seq - 1).is_err());
    let mut p = consistency(&entries, 1, s.seq - 1).unwrap();
    p.old_size = 0;
    p.proof.clear();
    p.old_root = STANDARD.encode(gantry_ledger::merkle::empty_root());
    assert!(verify_consistency(&p, None).is_err());
    assert!(!gantry_ledger::merkle::verify_consistency(
        0,
        5,
        &gantry_ledger::merkle::empty_root(),
        &[1; 32],
        &[]
    ));
}

#[test]
fn issue12_offline_consistency_across_a_system_key_rotation() {
    let fx = fixture(3);
    let old_seal = sealed(&fx);
    let old_vkey = note_verifier_key("test.gantry", &fx.system.verifying_key());
    let new_system = Signer::system(generate_key());
    fx.ledger
        .rotate_agent(
            &fx.system,
            "gantry",
            "gantry",
            &fx.system.fingerprint(),
            &new_system.verifying_key(),
        )
        .unwrap();
    // The old system key can no longer seal; the new one does.
    assert!(fx.ledger.seal(&fx.system).is_err());
    fx.ledger.append(&fx.operator, "x.y", json!({})).unwrap();
    let new_seal = fx.ledger.seal(&new_system).unwrap();
    assert_eq!(new_seal.actor.key, new_system.fingerprint());
    assert!(report(&fx).is_ok(), "{:?}", report(&fx).failure);
    let new_vkey = note_verifier_key("test.gantry", &new_system.verifying_key());

    let entries = fx.ledger.entries().unwrap();
    let (o, n) = (old_seal.seq - 1, new_seal.seq - 1);
    let proof = consistency(&entries, o, n).unwrap();
    let both = [old_vkey.clone(), new_vkey.clone()];
    let (a, b) = check_consistency(&note(&old_seal), &note(&new_seal), &proof, &both).unwrap();
    assert_eq!((a.size, b.size), (o, n));
    let err = check_consistency(
        &note(&old_seal),
        &note(&new_seal),
        &proof,
        std::slice::from_ref(&new_vkey),
    );
    assert!(err.unwrap_err().to_string().contains("old checkpoint"));
    // Swapped checkpoints, or a proof for other sizes, do not pass.
    assert!(check_consistency(&note(&new_seal), &note(&old_seal), &proof, &both).is_err());
    let shorter = consistency(&entries, o - 1, n).unwrap();
    assert!(check_consistency(&note(&old_seal), &note(&new_seal), &shorter, &both).is_err());
    let mut bad = proof.clone();
    bad.proof[0] = "00".repeat(32);
    assert!(check_consistency(&note(&old_seal), &note(&new_seal), &bad, &both).is_err());

    // The identity knows both keys; a handle whose sealer was rotated out skips its seals
    // instead of failing the appends that would trigger them.
    let id = Identity::from_entries(&entries).unwrap();
    assert_eq!(id.origin, "test.gantry");
    assert_eq!(id.system_keys.len(), 2);
    assert_eq!(id.current().unwrap().fingerprint, new_system.fingerprint());
    assert!(id.open_checkpoint(&note(&old_seal)).is_ok());
    let stale = Ledger::open(
        &fx.path,
        LedgerOptions {
            seal_every: Some(1),
            sealer: Some(fx.system.clone()),
            ..LedgerOptions::default()
        },
    )
    .unwrap();
    stale.append(&fx.operator, "x.z", json!({})).unwrap();
    assert_eq!(last(&fx).kind, "x.z");
    assert!(report(&fx).is_ok());
}
