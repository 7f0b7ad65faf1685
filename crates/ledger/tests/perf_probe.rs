//! Where verification time goes, in CPU time per entry so a busy machine distorts it less
//! (run: cargo test --release -p gantry-ledger --test perf_probe -- --ignored --nocapture).
//! The figures of record come from `cargo bench -p gantry-ledger`.

mod common;

use std::time::Instant;

use gantry_ledger::{Entry, NewEntry, signing_message, verify_entry_sig};
use serde_json::json;

/// CPU time this thread has run, from the scheduler's own accounting.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore]
fn verification_cost_breakdown() {
    let fx = common::fixture(0);
    for _ in 0..20 {
        let items = (0..1000)
            .map(|i| NewEntry::new("pipeline.state.started", json!({"pipeline": "release", "stage": "deploy", "run": i, "status": "started"})))
            .collect();
        fx.ledger.append_batch(&fx.operator, items).unwrap();
    }
    let text = std::fs::read_to_string(&fx.path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len() as f64;
    let per = |ns: u64| ns as f64 / n;
    let t = thread_cpu_ns();
    let entries: Vec<Entry> = lines
        .iter()
        .map(|l| Entry::parse_line(l).unwrap())
        .collect();
    let parse = per(thread_cpu_ns() - t);
    let key = fx.operator.verifying_key();
    let msgs: Vec<[u8; 49]> = entries
        .iter()
        .map(|e| signing_message(&e.hash_bytes().unwrap()))
        .collect();
    let sigs: Vec<_> = entries.iter().map(|e| e.signature().unwrap()).collect();
    let t = thread_cpu_ns();
    let ours = msgs
        .iter()
        .zip(&sigs)
        .filter(|(m, s)| verify_entry_sig(&key, &m[..], s))
        .count();
    let sig = per(thread_cpu_ns() - t);
    let t = thread_cpu_ns();
    let strict = msgs
        .iter()
        .zip(&sigs)
        .filter(|(m, s)| key.verify_strict(&m[..], s).is_ok())
        .count();
    let dalek = per(thread_cpu_ns() - t);
    assert_eq!(ours, strict);
    let t = Instant::now();
    let r = gantry_ledger::verify(&fx.path).unwrap();
    let full = t.elapsed().as_secs_f64();
    assert!(r.is_ok());
    println!(
        "CPU per entry: strict parse+canonical+hash {:.2}us, signature {:.2}us (verify_strict {:.2}us) | \
         verify wall {:.2}us/entry = {:.0} entries/s on {} threads",
        parse / 1e3,
        sig / 1e3,
        dalek / 1e3,
        full / n * 1e6,
        n / full,
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
}
