//! Durable append throughput (group commit and single appends) and verification speed.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gantry_ledger::{Ledger, LedgerOptions, NewEntry, Signer, generate_key, verify};
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

fn appends(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("append");
    g.measurement_time(Duration::from_secs(5)).sample_size(10);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("group_commit_1000", |b| {
        b.iter(|| {
            let items = (0..1000)
                .map(|i| NewEntry::new("pipeline.state.started", body(i)))
                .collect();
            s.ledger.append_batch(&s.operator, items).expect("append");
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
}

fn verification(c: &mut Criterion) {
    let s = setup();
    for _ in 0..100 {
        let items = (0..1000)
            .map(|i| NewEntry::new("pipeline.state.started", body(i)))
            .collect();
        s.ledger.append_batch(&s.operator, items).expect("append");
    }
    let n = s.ledger.entries().expect("entries").len() as u64;
    let mut g = c.benchmark_group("verify");
    g.measurement_time(Duration::from_secs(10)).sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function(format!("ledger_{n}_entries"), |b| {
        b.iter(|| {
            let r = verify(&s.path).expect("verify");
            assert!(r.is_ok());
        })
    });
    g.finish();
}

criterion_group!(benches, appends, verification);
criterion_main!(benches);
