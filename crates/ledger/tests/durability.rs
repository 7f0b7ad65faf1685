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

#[test]
fn a_file_that_got_shorter_under_a_writer_is_corruption_naming_the_sizes() {
    let fx = fixture(3);
    let full = std::fs::read(&fx.path).unwrap();
    let last_line = full[..full.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fx.path)
        .unwrap()
        .set_len(last_line as u64)
        .unwrap();
    let err = fx
        .ledger
        .append(&fx.operator, "x.after", json!({}))
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LedgerError::Corrupt { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{last_line} bytes"))
            && msg.contains(&format!("{} bytes", full.len())),
        "{msg}"
    );
    // Nothing was written on top of the shortened file.
    assert_eq!(std::fs::metadata(&fx.path).unwrap().len(), last_line as u64);

    // Through a committer the first such failure sticks, even once the file is whole again.
    let committer = GroupCommitter::new(Arc::new(fx.ledger)).unwrap();
    let first = committer
        .append(&fx.operator, "x.after", json!({}))
        .unwrap_err();
    assert!(first.to_string().contains("got shorter"), "{first}");
    std::fs::write(&fx.path, &full).unwrap();
    let later = committer
        .append(&fx.operator, "x.after", json!({}))
        .unwrap_err();
    assert!(
        later.to_string().contains("an earlier append failed"),
        "{later}"
    );
    assert!(later.to_string().contains("got shorter"), "{later}");
    assert_eq!(std::fs::read(&fx.path).unwrap(), full);
}

#[test]
fn a_committer_write_failure_sticks_after_the_disk_has_room_again() {
    let root = tempfile::tempdir().unwrap();
    let Some(disk) = gantry_test_support::tmpfs::Tmpfs::mount(&root.path().join("disk"), "256k")
    else {
        return;
    };
    let path = disk.path().join("ledger.jsonl");
    let system = Signer::system(generate_key());
    let operator = Signer::new("operator", "OpsAgent", generate_key());
    let ledger = Ledger::create(&path, &system, "test.gantry").unwrap();
    ledger
        .register_agent(&system, "operator", "OpsAgent", &operator.verifying_key())
        .unwrap();
    let ledger = Arc::new(Ledger::open(&path, no_seal_opts()).unwrap());
    let committer = GroupCommitter::new(ledger.clone()).unwrap();
    committer.append(&operator, "x.before", json!({})).unwrap();
    // Fill the disk to the last byte.
    let filler = disk.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![b'x'; 4096];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(b"x").is_ok() {}
    drop(f);
    let big = json!({"pad": "y".repeat(8192)});
    let first = committer.append(&operator, "x.full", big).unwrap_err();
    let first = first.to_string();
    std::fs::remove_file(&filler).unwrap();
    let later = committer
        .append(&operator, "x.after", json!({}))
        .unwrap_err()
        .to_string();
    assert!(later.contains("an earlier append failed"), "{later}");
    assert!(first.contains("No space left"), "{first}");
    assert!(later.contains(&first), "{first} / {later}");
    // What was acknowledged is intact, and a fresh writer may carry on.
    let r = verify(&path).unwrap();
    assert!(r.is_ok(), "{:?}", r.failure);
    assert_eq!(r.entries, 3);
    let fresh = Ledger::open(&path, no_seal_opts()).unwrap();
    fresh.append(&operator, "x.after", json!({})).unwrap();
}
