//! Issue 12: a verifier nobody on gantry wrote the code of (verify_ledger.py, from FORMAT.md
//! with PyPI `rfc8785` and `cryptography`, i.e. OpenSSL's Ed25519) must reach the same
//! verdict as `gantry ledger verify` on a ledger gantry wrote and on tampered copies of it.
//!
//! Python: `$GANTRY_PYTHON`, else `.venv/bin/python3` at the workspace root, else `python3`.
//! Without the packages the test fails when `CI` is set and is skipped, saying so, elsewhere.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gantry_ledger::{Entry, Signer, key_from_pem, signing_message};
use gantry_test_support::TestProject;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::project;

const SETUP: &str = "python3 -m venv .venv && .venv/bin/pip install rfc8785 cryptography";

/// The Python to run, or `None` (after saying why) when this is not CI and it is missing.
/// With `packages`, it must also import `rfc8785` and `cryptography`.
pub fn python(packages: bool) -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python3");
    let candidate = match std::env::var_os("GANTRY_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if venv.exists() => venv,
        None => PathBuf::from("python3"),
    };
    let probe = if packages {
        "import rfc8785, cryptography"
    } else {
        "import resource"
    };
    let ok = Command::new(&candidate)
        .args(["-c", probe])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    let why = format!(
        "{} cannot `{probe}`; set GANTRY_PYTHON to a python3 that can, or at the workspace root: {SETUP}",
        candidate.display()
    );
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI is set and {why}");
    }
    // Past the test harness's capture, so a skip is never silent.
    let _ = writeln!(std::io::stderr(), "SKIPPED (not CI): {why}");
    None
}

fn lines_of(p: &TestProject) -> Vec<String> {
    p.ledger_lines()
}

fn signer(p: &TestProject, role: &str, id: &str) -> Signer {
    let pem = fs::read_to_string(p.path().join(format!(".gantry/keys/{role}.pem"))).unwrap();
    Signer::new(role, id, key_from_pem(&pem).unwrap())
}

/// A ledger with three roles, varied bodies, seals, a new role, an agent key rotation and a
/// system key rotation.
fn busy_ledger() -> TestProject {
    let p = project();
    let bodies = [
        r#"{"steps":["build","ship"],"risk":"low","n":-3,"f":0.25}"#,
        r#"{"text":"tab\there \"quoted\" \\ back","unicode":"é ✓ 𝄞 \u0001","nested":{"b":[{},[]],"a":null}}"#,
        r#"{"max":9007199254740991,"min":-9007199254740991,"tiny":1e-7,"half":0.5,"big_float":123456789.125}"#,
        r#"{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"ö":7}"#,
        r#"{"whole":2.0,"empty":"","t":true,"f":false}"#,
    ];
    for (i, body) in bodies.iter().enumerate() {
        let role = ["planner", "operator", "verifier"][i % 3];
        p.append(role, &format!("audit.case{i}"), body).ok();
    }
    p.gantry(&["ledger", "seal"]).ok();
    let mut config = fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    config = config.replacen("agents:\n", "agents:\n  auditor: { id: AuditAgent }\n", 1);
    fs::write(p.path().join("gantry.yaml"), config).unwrap();
    p.gantry(&["agent", "keygen", "auditor"]).ok();
    p.append("auditor", "audit.note", r#"{"ok":true}"#).ok();
    p.gantry(&["agent", "rotate", "planner"]).ok();
    p.append("planner", "plan.after_rotation", r#"{"i":1}"#)
        .ok();
    // Kept for a forgery by the retired system key.
    fs::copy(
        p.path().join(".gantry/keys/gantry.pem"),
        p.path().join("old-system.pem"),
    )
    .unwrap();
    p.gantry(&["agent", "rotate", "gantry"]).ok();
    for i in 0..4 {
        p.append("operator", "ops.tick", format!(r#"{{"i":{i}}}"#))
            .ok();
    }
    p.gantry(&["ledger", "seal"]).ok();
    p.append("verifier", "review.done", r#"{"i":2}"#).ok();
    p.gantry(&["ledger", "verify"]).ok();
    p
}

/// The entry after `prev`, with `edit` applied before hashing and signing.
fn forged(prev: &Entry, s: &Signer, edit: impl FnOnce(&mut Entry)) -> Entry {
    let mut e = Entry {
        seq: prev.seq + 1,
        ts: gantry_ledger::now_ts(),
        kind: "forged.entry".into(),
        actor: gantry_ledger::Actor {
            role: s.role().into(),
            id: s.id().into(),
            key: s.fingerprint(),
        },
        body: json!({"x": 1}),
        prev: prev.hash.clone(),
        hash: String::new(),
        sig: String::new(),
    };
    edit(&mut e);
    let h = e.compute_hash().unwrap();
    e.hash = hex::encode(h);
    e.sig = STANDARD.encode(s.sign(&signing_message(&h)).to_bytes());
    e
}

fn with_line(lines: &[String], extra: &Entry) -> Vec<String> {
    let mut out = lines.to_vec();
    out.push(extra.to_line().unwrap().trim_end().to_string());
    out
}

/// Named copies of the ledger: the original, and one change each.
fn variants(p: &TestProject) -> Vec<(String, Vec<u8>)> {
    let lines = lines_of(p);
    let join = |ls: &[String]| (ls.join("\n") + "\n").into_bytes();
    let original = join(&lines);
    let mut out = vec![("original".to_string(), original.clone())];
    let mut torn = original.clone();
    torn.extend_from_slice(b"{\"seq\":99,\"ts");
    out.push(("torn tail".into(), torn));
    out.push(("empty".into(), Vec::new()));

    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    for i in 0..60 {
        let mut b = original.clone();
        let at = rng.random_range(0..b.len());
        b[at] ^= 1 << rng.random_range(0..8u32);
        out.push((format!("flip {i} at byte {at}"), b));
    }
    let edit = |name: &str, f: &dyn Fn(&mut Vec<String>)| {
        let mut ls = lines.clone();
        f(&mut ls);
        (name.to_string(), join(&ls))
    };
    out.push(edit("deleted line 4", &|ls| {
        ls.remove(3);
    }));
    out.push(edit("duplicated line 5", &|ls| ls.insert(5, ls[4].clone())));
    out.push(edit("swapped 6 and 7", &|ls| ls.swap(5, 6)));
    out.push(edit("last two removed", &|ls| ls.truncate(ls.len() - 2)));
    out.push(edit("fields reordered", &|ls| {
        let v: Value = serde_json::from_str(&ls[4]).unwrap();
        ls[4] = v.to_string();
    }));
    out.push(edit("duplicate body key", &|ls| {
        // The body's first key again, in front: last-wins parsing would not notice.
        let l = &ls[5];
        let start = l.find("\"body\":{\"").unwrap() + 8;
        let end = start + 1 + l[start + 1..].find('"').unwrap();
        let key = l[start..=end].to_string();
        ls[5] = l.replacen("\"body\":{", &format!("\"body\":{{{key}:0,"), 1);
    }));
    out.push(edit("whole number respelled", &|ls| {
        let at = ls.iter().position(|l| l.contains("\"whole\":2}")).unwrap();
        ls[at] = ls[at].replace("\"whole\":2}", "\"whole\":2.0}");
    }));
    out.push(edit("safe integer bumped past 2^53", &|ls| {
        let at = ls
            .iter()
            .position(|l| l.contains("9007199254740991,"))
            .unwrap();
        ls[at] = ls[at].replace("9007199254740991,", "9007199254740993,");
    }));
    out.push(edit("escape respelled", &|ls| {
        let at = ls.iter().position(|l| l.contains("\\\"quoted")).unwrap();
        ls[at] = ls[at].replace("\\\"quoted", "\\u0022quoted");
    }));

    // Forgeries by key holders: well signed, yet against the format.
    let last = Entry::parse_line(lines.last().unwrap()).unwrap();
    let op = signer(p, "operator", "OperationsBoardAgent");
    let system = signer(p, "gantry", "gantry");
    let add = |name: &str, e: Entry| (name.to_string(), join(&with_line(&lines, &e)));
    out.push(add("well-formed forgery", forged(&last, &op, |_| {})));
    out.push(add(
        "ts yesterday",
        forged(&last, &op, |e| e.ts = "yesterday".into()),
    ));
    out.push(add(
        "empty kind",
        forged(&last, &op, |e| e.kind = String::new()),
    ));
    out.push(add(
        "registration with an extra field",
        forged(&last, &system, |e| {
            let key = gantry_ledger::generate_key().verifying_key();
            e.kind = "agent.registered".into();
            e.body = gantry_ledger::registered_body("spy", "Spy", &key);
            e.body["note"] = json!("rides along");
        }),
    ));
    out.push(add(
        "registration as the old system key",
        forged(&last, &signer_with(&system, old_system_key(p)), |e| {
            let key = gantry_ledger::generate_key().verifying_key();
            e.kind = "agent.registered".into();
            e.body = gantry_ledger::registered_body("spy", "Spy", &key);
        }),
    ));
    out.push(add(
        "seal with a wrong root",
        forged(&last, &system, |e| {
            let size = e.seq - 1;
            let root = [7u8; 32];
            let origin = "gantry/test";
            let note =
                gantry_ledger::note::sign_checkpoint(origin, size, &root, system.signing_key());
            e.kind = "ledger.sealed".into();
            e.body = json!({"size": size, "root": STANDARD.encode(root), "checkpoint": note});
        }),
    ));
    for t in [0usize, 1, 4, 6] {
        let mut e = forged(&last, &op, |e| e.kind = format!("torsion.t{t}"));
        let msg = signing_message(&e.hash_bytes().unwrap());
        e.sig = STANDARD.encode(gantry_test_support::forge::torsion_signature(
            op.signing_key(),
            &msg,
            t,
        ));
        out.push(add(&format!("nonce with torsion point {t}"), e));
    }
    let mut e = forged(&last, &op, |e| e.kind = "malleated.s".into());
    let mut sig = STANDARD.decode(&e.sig).unwrap();
    add_group_order(&mut sig[32..]);
    e.sig = STANDARD.encode(&sig);
    out.push(add("s + l (non-canonical s)", e));
    out
}

fn signer_with(s: &Signer, key: gantry_ledger::SigningKey) -> Signer {
    Signer::new(s.role(), s.id(), key)
}

/// The system key from before `agent rotate gantry`, kept by `busy_ledger`.
fn old_system_key(p: &TestProject) -> gantry_ledger::SigningKey {
    let pem = fs::read_to_string(p.path().join("old-system.pem")).unwrap();
    key_from_pem(&pem).unwrap()
}

/// s + l, little-endian, where l is the group order: the same point, a second spelling.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (b, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
}

#[test]
fn issue12_independent_verifier_agrees_with_gantry_on_valid_and_tampered_ledgers() {
    let Some(python) = python(true) else {
        return;
    };
    let p = busy_ledger();
    let variants = variants(&p);
    let dir = p.path().join("variants");
    fs::create_dir(&dir).unwrap();
    let original = fs::read(p.ledger_path()).unwrap();
    let mut files = Vec::new();
    let mut gantry = Vec::new();
    for (i, (name, bytes)) in variants.iter().enumerate() {
        let file = dir.join(format!("{i}.jsonl"));
        fs::write(&file, bytes).unwrap();
        files.push(file);
        fs::write(p.ledger_path(), bytes).unwrap();
        let run = p.gantry(&["ledger", "verify", "--json"]);
        assert!(
            matches!(run.code(), 0 | 6),
            "{name}: {}{}",
            run.stdout(),
            run.stderr()
        );
        let report = run.json();
        gantry.push((
            run.code() == 0,
            report["failure"]["line"].as_u64(),
            report["entries"].as_u64().unwrap(),
            report["failure"].to_string(),
        ));
    }
    fs::write(p.ledger_path(), original).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/verify_ledger.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), variants.len());
    let mut failed = 0;
    for (((name, _), g), py) in variants.iter().zip(&gantry).zip(&verdicts) {
        let theirs = (
            py["ok"].as_bool().unwrap(),
            py["line"].as_u64(),
            py["entries"].as_u64().unwrap(),
        );
        assert_eq!(
            (g.0, g.1, g.2),
            theirs,
            "{name}: gantry {} / independent {py}",
            g.3
        );
        failed += usize::from(!g.0);
    }
    let expect_ok = [
        "original",
        "torn tail",
        "last two removed",
        "well-formed forgery",
    ];
    for ((name, _), g) in variants.iter().zip(&gantry) {
        let should_pass =
            expect_ok.contains(&name.as_str()) || name == "nonce with torsion point 0";
        if !name.starts_with("flip") {
            assert_eq!(g.0, should_pass, "{name}: {}", g.3);
        }
    }
    assert!(failed > 60, "most copies must fail: {failed}");
}
