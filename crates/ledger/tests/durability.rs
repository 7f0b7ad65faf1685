//! Torn writes, concurrent writers, group commit, and file-level errors.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::*;
use gantry_ledger::{
    GroupCommitter, KIND_RECOVERED, Ledger, LedgerError, NewEntry, Signer, generate_key, verify,
};
use serde_json::json;

#[test]
fn torn_tail_is_moved_aside_truncated_and_recorded() {
    let fx = fixture(5);
    let good_len = std::fs::metadata(&fx.path).unwrap().len();
    let torn = b"{\"seq\":8,\"ts\":\"2026-";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&fx.path)
        .unwrap()
        .write_all(torn)
        .unwrap();

    // Readers ignore the torn tail; verify reports it without failing.
    let read = fx.ledger.read().unwrap();
    assert_eq!(read.entries.len(), 7);
    assert_eq!(read.torn_tail_bytes, torn.len() as u64);
    assert_eq!(read.torn_tail_offset, Some(good_len));
    let r = verify(&fx.path).unwrap();
    assert!(r.is_ok());
    assert_eq!(r.torn_tail_bytes, torn.len() as u64);

    // A new writer recovers before its own entry.
    let writer = Ledger::open(&fx.path, no_seal_opts()).unwrap();
    let e = writer.append(&fx.operator, "x.after", json!({})).unwrap();
    let broken = fx.dir.path().join("ledger.jsonl.broken");
    assert_eq!(std::fs::read(&broken).unwrap(), torn);
    let all = writer.entries().unwrap();
    let rec = &all[7];
    assert_eq!(rec.kind, KIND_RECOVERED);
    assert_eq!(rec.seq, 8);
    assert_eq!(rec.actor.key, fx.operator.fingerprint());
    assert_eq!(rec.body["torn_bytes"], torn.len());
    assert_eq!(rec.body["offset"], good_len);
    assert_eq!(rec.body["moved_to"], broken.display().to_string());
    assert_eq!(e.seq, 9);
    let r = verify(&fx.path).unwrap();
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!((r.entries, r.torn_tail_bytes), (9, 0));

    // A second torn tail goes to a numbered file rather than overwriting the first.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&fx.path)
        .unwrap()
        .write_all(b"{\"x")
        .unwrap();
    let rec2 = writer.recover(&fx.operator).unwrap().unwrap();
    assert_eq!(rec2.kind, KIND_RECOVERED);
    assert!(fx.dir.path().join("ledger.jsonl.broken.1").exists());
    assert!(writer.recover(&fx.operator).unwrap().is_none());
    assert!(verify(&fx.path).unwrap().is_ok());
}

#[test]
fn concurrent_handles_produce_one_contiguous_chain() {
    let fx = fixture(0);
    let threads = 4;
    let per = 40;
    std::thread::scope(|s| {
        for t in 0..threads {
            let path = fx.path.clone();
            let op = fx.operator.clone();
            s.spawn(move || {
                let l = Ledger::open(&path, no_seal_opts()).unwrap();
                for i in 0..per {
                    if i % 4 == 0 {
                        let items = (0..3)
                            .map(|j| NewEntry::new("x.batch", json!({"t": t, "i": i, "j": j})))
                            .collect();
                        l.append_batch(&op, items).unwrap();
                    } else {
                        l.append(&op, "x.single", json!({"t": t, "i": i})).unwrap();
                    }
                }
            });
        }
    });
    let entries = fx.ledger.entries().unwrap();
    let expected = 2 + threads * (per / 4 * 3 + per * 3 / 4);
    assert_eq!(entries.len(), expected as usize);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1);
    }
    let r = verify(&fx.path).unwrap();
    assert!(r.is_ok(), "{:?}", r.failure);
    // The original handle catches up with what the others wrote.
    let e = fx.ledger.append(&fx.operator, "x.last", json!({})).unwrap();
    assert_eq!(e.seq, expected + 1);
    assert!(verify(&fx.path).unwrap().is_ok());
}

#[test]
fn group_committer_batches_concurrent_appends() {
    let fx = fixture(0);
    let ledger = Arc::new(Ledger::open(&fx.path, no_seal_opts()).unwrap());
    let gc = GroupCommitter::new(ledger).unwrap();
    let rogue = Signer::new("operator", "OpsAgent", generate_key());
    std::thread::scope(|s| {
        for t in 0..8 {
            let gc = gc.clone();
            let op = fx.operator.clone();
            let rogue = rogue.clone();
            s.spawn(move || {
                for i in 0..25 {
                    let e = gc.append(&op, "x.gc", json!({"t": t, "i": i})).unwrap();
                    assert_eq!(e.body["i"], i);
                }
                assert!(matches!(
                    gc.append(&rogue, "x.gc", json!({})),
                    Err(LedgerError::UnregisteredSigner { .. })
                ));
            });
        }
    });
    let entries = fx.ledger.entries().unwrap();
    assert_eq!(entries.len(), 2 + 8 * 25);
    assert!(verify(&fx.path).unwrap().is_ok());
}

#[test]
fn create_and_open_errors() {
    let fx = fixture(0);
    assert!(matches!(
        Ledger::create(&fx.path, &fx.system, "x"),
        Err(LedgerError::AlreadyExists(_))
    ));
    let missing = fx.dir.path().join("nope.jsonl");
    assert!(matches!(
        Ledger::open(&missing, no_seal_opts()),
        Err(LedgerError::NotFound(_))
    ));
    assert!(matches!(verify(&missing), Err(LedgerError::NotFound(_))));
    let not_system = Signer::new("operator", "x", generate_key());
    assert!(Ledger::create(&fx.dir.path().join("b.jsonl"), &not_system, "x").is_err());
    // Reserved kinds cannot be appended directly.
    assert!(
        fx.ledger
            .append(&fx.system, "ledger.sealed", json!({}))
            .is_err()
    );
    assert!(fx.ledger.append(&fx.operator, "", json!({})).is_err());
}

#[test]
fn empty_file_fails_verification_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("l.jsonl");
    std::fs::write(&p, "").unwrap();
    let r = verify(&p).unwrap();
    assert_eq!(r.failure.unwrap().check, gantry_ledger::Check::Genesis);
    let l = Ledger::open(&p, no_seal_opts()).unwrap();
    let op = Signer::new("operator", "x", generate_key());
    assert!(l.append(&op, "x.y", json!({})).is_err());
}

#[test]
fn mid_file_corruption_blocks_appends_and_is_not_repaired() {
    let fx = fixture(4);
    let mut ls = lines(&fx.path);
    ls[2] = "{garbage".into();
    write_lines(&fx.path, &ls);
    let l = Ledger::open(&fx.path, no_seal_opts()).unwrap();
    let err = l.append(&fx.operator, "x.y", json!({})).unwrap_err();
    assert!(matches!(err, LedgerError::Corrupt { line: 3, .. }), "{err}");
    assert_eq!(lines(&fx.path)[2], "{garbage");
}
