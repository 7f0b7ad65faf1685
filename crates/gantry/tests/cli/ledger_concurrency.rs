//! Several writers, crashes and torn writes: the chain never forks and nothing acknowledged
//! is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::project;

fn entries(p: &gantry_test_support::TestProject) -> Vec<Value> {
    p.ledger_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn four_processes_appending_1000_entries_each_never_fork_the_chain() {
    let p = project();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let input: String = (0..1000)
                .map(|i| {
                    format!("{{\"kind\":\"load.tick\",\"body\":{{\"writer\":{w},\"i\":{i}}}}}\n")
                })
                .collect();
            let mut child = p
                .command(&[
                    "ledger", "append", "--as", "operator", "--stdin", "--batch", "1", "--json",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
            child
        })
        .collect();
    for child in writers {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            1000,
            "every entry acknowledged"
        );
    }
    let all = entries(&p);
    let mut seen = BTreeMap::new();
    for (n, e) in all.iter().enumerate() {
        assert_eq!(e["seq"], n as u64 + 1, "seqs are contiguous");
        if e["kind"] == "load.tick" {
            let key = (
                e["body"]["writer"].as_u64().unwrap(),
                e["body"]["i"].as_u64().unwrap(),
            );
            *seen.entry(key).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 4000, "all 4000 present");
    assert!(seen.values().all(|&c| c == 1), "each exactly once");
    let report = p.gantry(&["ledger", "verify", "--json"]).ok().json();
    assert!(
        report["seals"].as_u64().unwrap() >= 4,
        "auto-seals every 1000 entries: {report}"
    );
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_append() {
    let p = project();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    for round in 0..15 {
        let mut child = p
            .command(&[
                "ledger", "append", "--as", "planner", "--stdin", "--batch", "1", "--json",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            for i in 0.. {
                let line = format!(
                    "{{\"kind\":\"crash.probe\",\"body\":{{\"round\":{round},\"i\":{i}}}}}\n"
                );
                if stdin.write_all(line.as_bytes()).is_err() {
                    break;
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
                .map(|v| {
                    (
                        v["seq"].as_u64().unwrap(),
                        v["hash"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(30..250)));
        kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        acknowledged.extend(reader.join().unwrap());
    }
    assert!(
        acknowledged.len() > 50,
        "the writers got to append: {}",
        acknowledged.len()
    );
    // The next writer recovers any torn tail before appending.
    p.append("planner", "crash.after", "{}").ok();
    p.gantry(&["ledger", "verify"]).ok();
    let on_disk: BTreeSet<(u64, String)> = entries(&p)
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for ack in &acknowledged {
        assert!(
            on_disk.contains(ack),
            "acknowledged entry {ack:?} is missing"
        );
    }
}

#[test]
fn a_torn_last_line_is_moved_aside_truncated_and_recorded() {
    let p = project();
    p.append("planner", "plan.drafted", "{}").ok();
    let intact = std::fs::read(p.ledger_path()).unwrap();
    let torn = br#"{"seq":99,"ts":"2026-11-25T08:00:00Z","kind":"half.writ"#;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(p.ledger_path())
        .unwrap();
    file.write_all(torn).unwrap();
    drop(file);
    // Readers leave the torn bytes alone and say so.
    p.gantry(&["ledger", "verify"])
        .ok()
        .says("never acknowledged");
    let started = Instant::now();
    p.append("planner", "plan.next", "{}").ok();
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = std::fs::read(p.ledger_path()).unwrap();
    assert!(
        text.starts_with(&intact),
        "entries before the torn line are kept byte for byte"
    );
    assert!(
        !text.windows(torn.len()).any(|w| w == torn),
        "the torn bytes are gone from the ledger"
    );
    let broken: Vec<_> = std::fs::read_dir(p.path().join(".gantry"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".broken"))
        .collect();
    assert_eq!(broken.len(), 1, "one .broken file");
    assert_eq!(std::fs::read(broken[0].path()).unwrap(), torn);
    let recovered = p
        .gantry(&["ledger", "show", "--json", "--kind", "ledger.recovered"])
        .ok()
        .json();
    assert_eq!(recovered[0]["body"]["torn_bytes"], torn.len() as u64);
    p.gantry(&["ledger", "verify"]).ok();
}
