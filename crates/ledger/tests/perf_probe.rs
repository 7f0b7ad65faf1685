//! Where verification time goes (run: cargo test --release --test perf_probe -- --ignored --nocapture).

mod common;

use std::time::Instant;

use gantry_ledger::{Entry, NewEntry, signing_message};
use serde_json::json;

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
    let cpu = || std::time::Instant::now();
    let t = cpu();
    let entries: Vec<Entry> = lines
        .iter()
        .map(|l| Entry::parse_line(l).unwrap())
        .collect();
    let parse = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let hashes: Vec<[u8; 32]> = entries.iter().map(|e| e.compute_hash().unwrap()).collect();
    let hash = t.elapsed().as_secs_f64();
    let key = fx.operator.verifying_key();
    let msgs: Vec<[u8; 49]> = hashes.iter().map(signing_message).collect();
    let sigs: Vec<_> = entries.iter().map(|e| e.signature().unwrap()).collect();
    let t = Instant::now();
    for (m, s) in msgs.chunks(256).zip(sigs.chunks(256)) {
        let mr: Vec<&[u8]> = m.iter().map(|x| &x[..]).collect();
        let keys = vec![key; m.len()];
        let _ = ed25519_dalek::verify_batch(&mr, s, &keys);
    }
    let batch = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (m, s) in msgs.iter().zip(&sigs).take(5000) {
        let _ = key.verify_strict(m, s);
    }
    let strict = t.elapsed().as_secs_f64() / 5000.0 * n;
    let t = Instant::now();
    let r = gantry_ledger::verify(&fx.path).unwrap();
    let full = t.elapsed().as_secs_f64();
    assert!(r.is_ok());
    let us = |x: f64| x / n * 1e6;
    println!(
        "per entry: parse {:.2}us hash {:.2}us batch-sig {:.2}us strict-sig {:.2}us | verify {:.2}us = {:.0}/s",
        us(parse),
        us(hash),
        us(batch),
        us(strict),
        us(full),
        n / full
    );
}
