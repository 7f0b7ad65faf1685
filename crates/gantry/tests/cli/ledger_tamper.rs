//! Any single-byte change, deleted, duplicated or reordered line, or an entry signed by an
//! unregistered key is caught by `ledger verify`, which names that entry.

use base64::Engine as _;
use gantry_ledger::{Entry, Signer, generate_key, signing_message};
use gantry_test_support::TestProject;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::project;

/// A project with a mix of roles, kinds and bodies.
fn busy_project() -> TestProject {
    let p = project();
    for (role, kind, body) in [
        (
            "planner",
            "plan.drafted",
            r#"{"steps":["build","ship"],"risk":"low"}"#,
        ),
        (
            "operator",
            "deploy.applied",
            r#"{"service":"web","version":"v2","replicas":3}"#,
        ),
        (
            "verifier",
            "review.signed",
            r#"{"verdict":"approve","notes":"all green ✓"}"#,
        ),
        (
            "operator",
            "deploy.note",
            r#"{"text":"quiet night","n":42}"#,
        ),
    ] {
        p.append(role, kind, body).ok();
    }
    p.gantry(&["ledger", "verify"]).ok();
    p
}

/// Runs verify and returns the reported failure; asserts exit 6 and that it names `line`.
/// The seq it reports is the one found on that line, which after a structural change (a
/// deleted line, an altered seq) need not equal the line number.
#[track_caller]
fn assert_fails_at(p: &TestProject, line: usize, what: &str) -> Value {
    let run = p.gantry(&["ledger", "verify", "--json"]);
    assert_eq!(
        run.code(),
        6,
        "{what}: verify must fail\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
    let report = run.json();
    let failure = report["failure"].clone();
    assert_eq!(
        failure["line"], line as u64,
        "{what}: wrong entry named: {failure}"
    );
    // The human form names the entry too.
    let human = p.gantry(&["ledger", "verify"]).fails_with(6);
    assert!(
        human.stdout().contains(&format!("line {line}")),
        "{what}: {}",
        human.stdout()
    );
    failure
}

/// Offset of the first character of `field`'s first scalar value in a ledger line.
fn value_offset(line: &str, field: &str) -> usize {
    let start = line.find(&format!("\"{field}\":")).expect("field present") + field.len() + 3;
    let rest = &line[start..];
    // Skip into nested objects/arrays and past key names to the first value character.
    let mut i = 0;
    let bytes = rest.as_bytes();
    loop {
        match bytes[i] {
            b'{' => {
                i += rest[i..].find("\":").expect("nested key") + 2;
            }
            b'[' | b'"' => i += 1,
            _ => return start + i,
        }
    }
}

fn mutate(byte: u8) -> u8 {
    match byte {
        b'0'..=b'8' | b'a'..=b'e' | b'A'..=b'Y' => byte + 1,
        b'9' => b'0',
        b'f'..=b'z' => byte - 1,
        b'Z' => b'A',
        _ => b'x',
    }
}

#[test]
fn changing_one_byte_of_any_field_of_any_entry_is_named() {
    let p = busy_project();
    let lines = p.ledger_lines();
    for (idx, line) in lines.iter().enumerate() {
        for field in ["body", "prev", "hash", "sig", "actor"] {
            let mut bytes = line.clone().into_bytes();
            let at = value_offset(line, field);
            bytes[at] = mutate(bytes[at]);
            let mut tampered = lines.clone();
            tampered[idx] = String::from_utf8(bytes).unwrap();
            p.write_ledger_lines(&tampered);
            let failure = assert_fails_at(&p, idx + 1, &format!("{field} of line {}", idx + 1));
            if let Some(seq) = failure["seq"].as_u64() {
                assert_eq!(
                    seq,
                    idx as u64 + 1,
                    "{field} of line {}: {failure}",
                    idx + 1
                );
            }
        }
    }
    p.write_ledger_lines(&lines);
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn random_single_byte_flips_are_named() {
    let p = busy_project();
    let lines = p.ledger_lines();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x9a7);
    for _ in 0..60 {
        let idx = rng.random_range(0..lines.len());
        let mut bytes = lines[idx].clone().into_bytes();
        let at = rng.random_range(0..bytes.len());
        let flip: u8 = rng.random_range(1..=255);
        bytes[at] ^= flip;
        let mut text: Vec<u8> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            text.extend_from_slice(if i == idx { &bytes } else { l.as_bytes() });
            text.push(b'\n');
        }
        std::fs::write(p.ledger_path(), &text).unwrap();
        assert_fails_at(
            &p,
            idx + 1,
            &format!("byte {at} of line {} ^ {flip:#x}", idx + 1),
        );
    }
}

#[test]
fn uppercasing_a_hash_is_still_tampering() {
    let p = busy_project();
    let lines = p.ledger_lines();
    let mut tampered = lines.clone();
    let hash = serde_json::from_str::<Value>(&lines[2]).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    tampered[2] = lines[2].replace(&hash, &hash.to_uppercase());
    assert_ne!(tampered[2], lines[2]);
    p.write_ledger_lines(&tampered);
    assert_fails_at(&p, 3, "uppercase hash");
}

#[test]
fn deleted_duplicated_and_reordered_lines_are_named() {
    let p = busy_project();
    let lines = p.ledger_lines();

    let mut deleted = lines.clone();
    deleted.remove(3);
    p.write_ledger_lines(&deleted);
    assert_fails_at(&p, 4, "deleted line 4");

    let mut duplicated = lines.clone();
    duplicated.insert(3, lines[2].clone());
    p.write_ledger_lines(&duplicated);
    assert_fails_at(&p, 4, "duplicated line 3");

    let mut swapped = lines.clone();
    swapped.swap(4, 5);
    p.write_ledger_lines(&swapped);
    assert_fails_at(&p, 5, "swapped lines 5 and 6");
}

/// Recomputes an entry's hash and signature with `signer`, as a forger would.
fn resign(entry: &mut Entry, signer: &Signer) {
    entry.actor.key = signer.fingerprint();
    let hash = entry.compute_hash().unwrap();
    entry.hash = hex::encode(hash);
    let sig = signer.sign(&signing_message(&hash));
    entry.sig = base64::engine::general_purpose::STANDARD.encode(sig.to_bytes());
}

#[test]
fn an_entry_resigned_with_an_unregistered_key_is_named() {
    let p = busy_project();
    let lines = p.ledger_lines();
    let mut entry = Entry::parse_line(&lines[5]).unwrap();
    let rogue = Signer::new(
        entry.actor.role.clone(),
        entry.actor.id.clone(),
        generate_key(),
    );
    resign(&mut entry, &rogue);
    let mut tampered = lines.clone();
    tampered[5] = entry.to_line().unwrap();
    p.write_ledger_lines(&tampered);
    let failure = assert_fails_at(&p, 6, "re-signed by a rogue key");
    assert_eq!(failure["check"], "key", "{failure}");
}

#[test]
fn an_entry_appended_with_an_unregistered_key_is_named() {
    let p = busy_project();
    let lines = p.ledger_lines();
    let last = Entry::parse_line(lines.last().unwrap()).unwrap();
    // The library refuses to sign with an unregistered key, so forge the line by hand.
    let rogue = Signer::new("operator", "OperationsBoardAgent", generate_key());
    let mut forged = last.clone();
    forged.seq = last.seq + 1;
    forged.prev = last.hash.clone();
    forged.kind = "deploy.applied".into();
    forged.actor.role = "operator".into();
    forged.actor.id = "OperationsBoardAgent".into();
    forged.body = serde_json::json!({"version": "evil"});
    resign(&mut forged, &rogue);
    let mut tampered = lines.clone();
    tampered.push(forged.to_line().unwrap());
    p.write_ledger_lines(&tampered);
    let failure = assert_fails_at(&p, lines.len() + 1, "appended by a rogue key");
    assert_eq!(failure["check"], "key", "{failure}");
}
