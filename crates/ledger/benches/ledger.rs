//! Durable append throughput (group commit and single appends) and strict verification
//! speed, each with its peer measured in the same run:
//! - verify: whole-file `verify` (strict parse, canonical check, hash, strict signatures on
//!   all cores) against `verify_strict` alone on one thread over the same signatures;
//! - append: group commit against one durable append per entry.
//!
//! Prints a summary with entries/s, the ratios, the number of cores and the load average,
//! since other work on the machine moves every figure.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gantry_ledger::{Entry, Ledger, LedgerOptions, NewEntry, Signer, generate_key, verify};
use serde_json::json;

struct Setup {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    operator: Signer,
    path: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.jsonl");
    let system = Signer::system(generate_key());
    let operator = Signer::new("operator", "OpsAgent", generate_key());
    let created = Ledger::create(&path, &system, "bench.gantry").expect("create");
    created
        .register_agent(&system, "operator", "OpsAgent", &operator.verifying_key())
        .expect("register");
    let opts = LedgerOptions {
        seal_every: Some(1000),
        sealer: Some(system),
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(&path, opts).expect("open");
    Setup {
        _dir: dir,
        ledger,
        operator,
        path,
    }
}

fn body(i: u64) -> serde_json::Value {
    json!({"pipeline": "release", "stage": "deploy", "run": i, "status": "started"})
}

fn batch(n: u64) -> Vec<NewEntry> {
    (0..n)
        .map(|i| NewEntry::new("pipeline.state.started", body(i)))
        .collect()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU seconds this process has used, all threads (USER_HZ is 100 on Linux).
fn cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// CPU seconds `f` takes over `rounds` runs, per run; unlike wall time, hardly moved by
/// other work on the machine (it still shares caches and cores' clocks).
fn cpu_per_run(rounds: usize, mut f: impl FnMut()) -> f64 {
    let t = cpu_secs();
    for _ in 0..rounds {
        f();
    }
    (cpu_secs() - t) / rounds as f64
}

/// Best of `rounds` runs of `f`, in seconds.
fn best(rounds: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn appends(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("append");
    g.measurement_time(Duration::from_secs(5)).sample_size(10);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("group_commit_1000", |b| {
        b.iter(|| {
            s.ledger
                .append_batch(&s.operator, batch(1000))
                .expect("append")
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_durable", |b| {
        b.iter(|| {
            s.ledger
                .append(&s.operator, "pipeline.state.started", body(1))
                .expect("append")
        })
    });
    g.finish();

    let group = best(5, || {
        s.ledger
            .append_batch(&s.operator, batch(10_000))
            .expect("append");
    });
    let single = best(3, || {
        for i in 0..200 {
            s.ledger
                .append(&s.operator, "pipeline.state.started", body(i))
                .expect("append");
        }
    });
    let cpu_group = cpu_per_run(3, || {
        s.ledger
            .append_batch(&s.operator, batch(10_000))
            .expect("append");
    });
    let (group_rate, single_rate) = (10_000.0 / group, 200.0 / single);
    println!(
        "SUMMARY append: group commit {group_rate:.0} entries/s (10k per fsync), single durable \
         {single_rate:.0} entries/s, ratio {:.0}x; group commit per CPU-second {:.0} entries; \
         {} cores, load {}",
        group_rate / single_rate,
        10_000.0 / cpu_group,
        cores(),
        load()
    );
}

fn verification(c: &mut Criterion) {
    let s = setup();
    for _ in 0..100 {
        s.ledger
            .append_batch(&s.operator, batch(1000))
            .expect("append");
    }
    let entries = s.ledger.entries().expect("entries");
    let n = entries.len() as u64;
    let mut g = c.benchmark_group("verify");
    g.measurement_time(Duration::from_secs(10)).sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function(format!("strict_{n}_entries"), |b| {
        b.iter(|| {
            let r = verify(&s.path).expect("verify");
            assert!(r.is_ok());
        })
    });
    g.finish();

    let whole = best(5, || assert!(verify(&s.path).expect("verify").is_ok()));
    // The peer: the signature checks alone, dalek's verify_strict on one thread.
    let key = s.operator.verifying_key();
    let signed: Vec<([u8; 49], ed25519_dalek::Signature)> = entries
        .iter()
        .filter(|e: &&Entry| e.actor.role == "operator")
        .take(20_000)
        .map(|e| {
            let h = e.hash_bytes().expect("hash");
            (
                gantry_ledger::signing_message(&h),
                e.signature().expect("sig"),
            )
        })
        .collect();
    let reference = best(3, || {
        for (m, sig) in &signed {
            assert!(key.verify_strict(m, sig).is_ok());
        }
    });
    let cpu_whole = cpu_per_run(3, || assert!(verify(&s.path).expect("verify").is_ok()));
    let cpu_reference = cpu_per_run(1, || {
        for (m, sig) in &signed {
            assert!(key.verify_strict(m, sig).is_ok());
        }
    });
    let (rate, reference_rate) = (n as f64 / whole, signed.len() as f64 / reference);
    let (cpu_rate, cpu_reference_rate) =
        (n as f64 / cpu_whole, signed.len() as f64 / cpu_reference);
    println!(
        "SUMMARY verify: {rate:.0} entries/s for {n} entries (strict signatures, canonical lines); \
         verify_strict alone on one thread {reference_rate:.0}/s, ratio {:.2}; per CPU-second: \
         verify {cpu_rate:.0} entries, verify_strict {cpu_reference_rate:.0}, ratio {:.2} \
         ({:.0} entries/s on {} idle cores); load {}",
        rate / reference_rate,
        cpu_rate / cpu_reference_rate,
        cpu_rate * cores() as f64,
        cores(),
        load()
    );
}

criterion_group!(benches, appends, verification);
criterion_main!(benches);
