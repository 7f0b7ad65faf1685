//! `load ADDR RATE CONNECTIONS STOP_FILE`: steady load on ADDR until STOP_FILE exists, then
//! one JSON line of figures (requests, failures, answers by status and version, p50/p99).
//! Used by the scripts under bench/.

use std::time::Duration;

use gantry_test_support::load::Load;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        eprintln!("usage: load ADDR RATE CONNECTIONS STOP_FILE");
        std::process::exit(2);
    }
    let addr = args[0].parse().expect("ADDR as IP:PORT");
    let rate: u32 = args[1].parse().expect("RATE");
    let conns: u32 = args[2].parse().expect("CONNECTIONS");
    let stop = std::path::PathBuf::from(&args[3]);
    let load = Load::start(addr, rate, conns);
    while !stop.exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = load.stop();
    let bad: Vec<&str> = std::env::var("BAD_VERSIONS")
        .unwrap_or_default()
        .leak()
        .split(',')
        .filter(|v| !v.is_empty())
        .collect();
    let answers: serde_json::Map<String, serde_json::Value> = s
        .answers
        .iter()
        .map(|((st, v), n)| (format!("{st} {v}"), (*n).into()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "requests": s.requests,
            "failures": s.failures(&bad),
            "no_answer": s.no_answer,
            "answers": answers,
            "p50_ms": s.latency_ms(0.5),
            "p99_ms": s.latency_ms(0.99),
            "errors": s.first_errors,
        })
    );
}
