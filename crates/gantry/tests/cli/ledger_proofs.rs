//! Seals, inclusion and consistency proofs, and the in-toto export, as an outside verifier
//! would use them.

use base64::Engine as _;
use serde_json::Value;

use crate::project;

#[test]
fn an_inclusion_proof_checks_offline_and_fails_when_altered() {
    let p = project();
    for i in 0..6 {
        p.append("planner", "plan.step", format!("{{\"i\":{i}}}"))
            .ok();
    }
    p.gantry(&["ledger", "prove", "3"])
        .fails_with(2)
        .says("gantry ledger seal");
    p.gantry(&["ledger", "seal"]).ok().says("sealed");
    let vkey = p
        .gantry(&["ledger", "verifier-key"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    std::fs::write(p.path().join("vkey"), &vkey).unwrap();
    p.gantry(&["ledger", "prove", "3", "--out", "proof.json"])
        .ok();
    p.gantry(&["ledger", "check-proof", "proof.json", "--key", "vkey"])
        .ok()
        .says("OK");

    // Offline: a directory with only the proof and the key.
    let elsewhere = crate::empty();
    std::fs::copy(
        p.path().join("proof.json"),
        elsewhere.path().join("proof.json"),
    )
    .unwrap();
    elsewhere
        .gantry(&["ledger", "check-proof", "proof.json", "--key", &vkey])
        .ok();

    let proof: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("proof.json")).unwrap())
            .unwrap();
    let mut bad = proof.clone();
    let first = bad["proof"][0].as_str().unwrap().to_string();
    let flipped: String = first.chars().rev().collect();
    bad["proof"][0] = Value::String(flipped);
    std::fs::write(p.path().join("bad.json"), bad.to_string()).unwrap();
    p.gantry(&["ledger", "check-proof", "bad.json", "--key", "vkey"])
        .fails_with(6);

    let mut wrong_entry = proof.clone();
    wrong_entry["entry_hash"] = Value::String("00".repeat(32));
    std::fs::write(p.path().join("bad2.json"), wrong_entry.to_string()).unwrap();
    p.gantry(&["ledger", "check-proof", "bad2.json", "--key", "vkey"])
        .fails_with(6);

    let other = crate::project();
    let other_key = other
        .gantry(&["ledger", "verifier-key"])
        .ok()
        .stdout()
        .trim()
        .to_string();
    p.gantry(&["ledger", "check-proof", "proof.json", "--key", &other_key])
        .fails_with(6);
}

#[test]
fn consistency_between_two_seals() {
    let p = project();
    p.gantry(&["ledger", "seal"]).ok();
    let first = p.ledger_lines().len() as u64 - 1;
    for i in 0..5 {
        p.append("operator", "ops.tick", format!("{{\"i\":{i}}}"))
            .ok();
    }
    p.gantry(&["ledger", "seal"]).ok();
    let second = p.ledger_lines().len() as u64 - 1;
    let out = p
        .gantry(&[
            "ledger",
            "consistency",
            &first.to_string(),
            &second.to_string(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["verified"], true, "{out}");
    p.gantry(&[
        "ledger",
        "consistency",
        &second.to_string(),
        &first.to_string(),
    ])
    .fails_with(2);
    p.gantry(&["ledger", "verify"]).ok().says("2 seals");
}

#[test]
fn export_writes_one_dsse_envelope_per_entry() {
    let p = project();
    p.append("verifier", "review.signed", r#"{"ok":true}"#).ok();
    p.gantry(&[
        "ledger",
        "export",
        "--format",
        "in-toto",
        "--out",
        "evidence.jsonl",
    ])
    .ok();
    let text = std::fs::read_to_string(p.path().join("evidence.jsonl")).unwrap();
    let lines = p.ledger_lines();
    assert_eq!(text.lines().count(), lines.len());
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["payloadType"], "application/vnd.in-toto+json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(last["payload"].as_str().unwrap())
        .unwrap();
    let statement: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    let entry: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(statement["subject"][0]["digest"]["sha256"], entry["hash"]);
    assert!(
        last["signatures"][0]["sig"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}
