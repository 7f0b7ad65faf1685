//! Every kind of tampering is caught, at the right line, seq and check.

mod common;

use common::*;
use gantry_ledger::{Check, Entry, verify};
use serde_json::json;

fn failure(path: &std::path::Path) -> (Option<u64>, u64, Check) {
    let r = verify(path).unwrap();
    let f = r.failure.expect("tampering must be detected");
    (f.seq, f.line, f.check)
}

#[test]
fn clean_ledger_verifies() {
    let fx = fixture(20);
    let r = verify(&fx.path).unwrap();
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(r.entries, 22);
    assert_eq!(r.torn_tail_bytes, 0);
    assert_eq!(
        r.last_hash,
        fx.ledger.entries().unwrap().last().unwrap().hash
    );
}

#[test]
fn body_tamper_is_a_hash_failure() {
    let fx = fixture(10);
    tamper_json(&fx.path, 7, |v| v["body"]["i"] = json!(999));
    assert_eq!(failure(&fx.path), (Some(7), 7, Check::Hash));
}

#[test]
fn body_tamper_with_recomputed_hash_is_a_signature_failure() {
    let fx = fixture(10);
    tamper_rehash(&fx.path, 7, |e| e.body = json!({"i": 999}));
    assert_eq!(failure(&fx.path), (Some(7), 7, Check::Signature));
}

#[test]
fn prev_tamper_is_a_prev_failure() {
    let fx = fixture(10);
    tamper_json(&fx.path, 5, |v| v["prev"] = json!("ab".repeat(32)));
    assert_eq!(failure(&fx.path), (Some(5), 5, Check::Prev));
}

#[test]
fn hash_tamper_is_a_hash_failure() {
    let fx = fixture(10);
    tamper_json(&fx.path, 9, |v| v["hash"] = json!("cd".repeat(32)));
    assert_eq!(failure(&fx.path), (Some(9), 9, Check::Hash));
}

#[test]
fn sig_tamper_is_a_signature_failure() {
    let fx = fixture(10);
    let other = Entry::parse_line(&lines(&fx.path)[3]).unwrap().sig;
    tamper_json(&fx.path, 8, |v| v["sig"] = json!(other));
    assert_eq!(failure(&fx.path), (Some(8), 8, Check::Signature));
    tamper_json(&fx.path, 8, |v| v["sig"] = json!("not base64!"));
    assert_eq!(failure(&fx.path), (Some(8), 8, Check::Signature));
}

#[test]
fn sig_tamper_deep_in_a_big_ledger_is_named_whichever_worker_finds_it() {
    let fx = fixture(600);
    let other = Entry::parse_line(&lines(&fx.path)[3]).unwrap().sig;
    tamper_json(&fx.path, 400, |v| v["sig"] = json!(other));
    assert_eq!(failure(&fx.path), (Some(400), 400, Check::Signature));
    // An earlier hash failure in another chunk wins over the later signature failure.
    tamper_json(&fx.path, 300, |v| v["body"]["i"] = json!(-1));
    assert_eq!(failure(&fx.path), (Some(300), 300, Check::Hash));
    let r = verify(&fx.path).unwrap();
    assert_eq!(r.entries, 299);
}

#[test]
fn actor_tamper_is_caught() {
    let fx = fixture(10);
    tamper_json(&fx.path, 6, |v| v["actor"]["id"] = json!("Mallory"));
    assert_eq!(failure(&fx.path), (Some(6), 6, Check::Hash));
    // A forger who re-hashes still cannot claim an identity the key is not registered to.
    let fx = fixture(10);
    tamper_rehash(&fx.path, 6, |e| e.actor.id = "Mallory".into());
    assert_eq!(failure(&fx.path), (Some(6), 6, Check::Key));
    let fx = fixture(10);
    tamper_rehash(&fx.path, 6, |e| e.actor.key = "SHA256:unknown".into());
    assert_eq!(failure(&fx.path), (Some(6), 6, Check::Key));
}

#[test]
fn deleted_line_is_a_seq_failure() {
    let fx = fixture(10);
    let mut ls = lines(&fx.path);
    ls.remove(4);
    write_lines(&fx.path, &ls);
    assert_eq!(failure(&fx.path), (Some(6), 5, Check::Seq));
}

#[test]
fn duplicated_line_is_a_seq_failure() {
    let fx = fixture(10);
    let mut ls = lines(&fx.path);
    let dup = ls[4].clone();
    ls.insert(5, dup);
    write_lines(&fx.path, &ls);
    assert_eq!(failure(&fx.path), (Some(5), 6, Check::Seq));
}

#[test]
fn swapped_lines_are_a_seq_failure() {
    let fx = fixture(10);
    let mut ls = lines(&fx.path);
    ls.swap(5, 6);
    write_lines(&fx.path, &ls);
    assert_eq!(failure(&fx.path), (Some(7), 6, Check::Seq));
}

#[test]
fn garbage_line_is_a_parse_failure_with_line_number() {
    let fx = fixture(10);
    let mut ls = lines(&fx.path);
    ls[6] = "{not json".into();
    write_lines(&fx.path, &ls);
    assert_eq!(failure(&fx.path), (None, 7, Check::Parse));
    let mut ls = lines(&fx.path);
    ls[6] = ls[7].replace("\"seq\":8", "\"seq\":7,\"extra\":1");
    write_lines(&fx.path, &ls);
    assert_eq!(failure(&fx.path), (Some(7), 7, Check::Parse));
}

#[test]
fn failure_display_names_line_seq_and_check() {
    let fx = fixture(10);
    let other = Entry::parse_line(&lines(&fx.path)[3]).unwrap().sig;
    tamper_json(&fx.path, 7, |v| v["sig"] = json!(other));
    let f = verify(&fx.path).unwrap().failure.unwrap();
    assert!(
        f.to_string().starts_with("line 7 (seq 7): signature: "),
        "{f}"
    );
    let j = serde_json::to_value(&f).unwrap();
    assert_eq!(j["check"], "signature");
}

#[test]
fn entries_signed_by_unregistered_key_are_rejected() {
    let fx = fixture(3);
    let rogue = gantry_ledger::Signer::new("operator", "OpsAgent", gantry_ledger::generate_key());
    assert!(matches!(
        fx.ledger.append(&rogue, "x.y", json!({})),
        Err(gantry_ledger::LedgerError::UnregisteredSigner { .. })
    ));
    let last = fx.ledger.entries().unwrap().pop().unwrap();
    append_raw(&fx.path, &forge(&last, &rogue, "x.y", json!({})));
    assert_eq!(failure(&fx.path), (Some(6), 6, Check::Key));
}

#[test]
fn rotated_key_used_after_rotation_is_rejected() {
    let fx = fixture(3);
    let new_key = gantry_ledger::generate_key();
    let rotated = gantry_ledger::Signer::new("operator", "OpsAgent", new_key);
    let rot = fx
        .ledger
        .rotate_agent(
            &fx.system,
            "operator",
            "OpsAgent",
            &fx.operator.fingerprint(),
            &rotated.verifying_key(),
        )
        .unwrap();
    // The writer refuses the old key; the new one works.
    assert!(fx.ledger.append(&fx.operator, "x.y", json!({})).is_err());
    let e = fx.ledger.append(&rotated, "x.y", json!({})).unwrap();
    assert_eq!(e.seq, rot.seq + 1);
    assert!(verify(&fx.path).unwrap().is_ok());
    // A hand-made entry with the old key after the rotation fails verification.
    append_raw(&fx.path, &forge(&e, &fx.operator, "x.y", json!({})));
    let (seq, line, check) = failure(&fx.path);
    assert_eq!((seq, line, check), (Some(e.seq + 1), e.seq + 1, Check::Key));
    let msg = verify(&fx.path).unwrap().failure.unwrap().message;
    assert!(msg.contains("rotated out"), "{msg}");
}

#[test]
fn registrations_must_come_from_the_system_key() {
    let fx = fixture(2);
    let other = gantry_ledger::generate_key().verifying_key();
    let err = fx
        .ledger
        .register_agent(&fx.operator, "planner", "P", &other);
    assert!(err.is_err());
    let last = fx.ledger.entries().unwrap().pop().unwrap();
    let body = gantry_ledger::registered_body("planner", "P", &other);
    append_raw(
        &fx.path,
        &forge(&last, &fx.operator, gantry_ledger::KIND_REGISTERED, body),
    );
    assert_eq!(failure(&fx.path), (Some(5), 5, Check::Key));
}
