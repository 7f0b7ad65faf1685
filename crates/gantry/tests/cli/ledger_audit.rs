//! Issue 12 (and issue 7's torn-tail item): the ledger as evidence an auditor can rely on,
//! through the real binary.

use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use gantry_test_support::TestProject;
use serde_json::Value;

use crate::project;

fn vkey(p: &TestProject) -> String {
    p.gantry(&["ledger", "verifier-key"])
        .ok()
        .stdout()
        .trim()
        .to_string()
}

fn last_entry(p: &TestProject) -> Value {
    serde_json::from_str(p.ledger_lines().last().unwrap()).unwrap()
}

fn fill(p: &TestProject, n: usize) {
    let input: String = (0..n)
        .map(|i| format!("{{\"kind\":\"ops.tick\",\"body\":{{\"i\":{i}}}}}\n"))
        .collect();
    p.gantry_stdin(&["ledger", "append", "--as", "operator", "--stdin"], &input)
        .ok();
}

fn size_of_last_seal(p: &TestProject) -> u64 {
    let seal = last_entry(p);
    assert_eq!(seal["kind"], "ledger.sealed");
    seal["body"]["size"].as_u64().unwrap()
}

#[test]
fn issue12_renamed_project_keeps_its_checkpoints_verifiable() {
    let p = project();
    fill(&p, 4);
    p.gantry(&["ledger", "seal"]).ok();
    let first_seal = size_of_last_seal(&p);
    p.gantry(&["ledger", "prove", "3", "--out", "proof.json"])
        .ok();
    let before = vkey(&p);
    assert!(before.starts_with("gantry/test+"), "{before}");

    let config = fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    assert!(config.contains("project: test"));
    fs::write(
        p.path().join("gantry.yaml"),
        config.replace("project: test", "project: shop"),
    )
    .unwrap();
    p.gantry(&["check"]).ok();
    // The origin is the ledger's, fixed at genesis; the rename is pointed out.
    let run = p.gantry(&["ledger", "verifier-key"]).ok();
    assert_eq!(run.stdout().trim(), before);
    assert!(
        run.stderr().contains("genesis fixed \"gantry/test\""),
        "{}",
        run.stderr()
    );
    let out = p.gantry(&["ledger", "verifier-key", "--json"]).ok().json();
    assert_eq!(out["origin"], "gantry/test");
    assert_eq!(out["configured_origin"], "gantry/shop");
    p.gantry(&["ledger", "check-proof", "proof.json"])
        .ok()
        .says("OK");
    p.gantry(&["ledger", "check-proof", "proof.json", "--key", &before])
        .ok();
    fill(&p, 2);
    p.gantry(&["ledger", "seal"]).ok();
    let (old, new) = (first_seal.to_string(), size_of_last_seal(&p).to_string());
    p.gantry(&["ledger", "consistency", &old, &new])
        .ok()
        .says("OK: the signed tree");
}

#[test]
fn issue12_export_of_a_tampered_ledger_is_refused() {
    let p = project();
    fill(&p, 6);
    p.gantry(&["ledger", "export", "--out", "good.jsonl"]).ok();
    assert_eq!(
        fs::read_to_string(p.path().join("good.jsonl"))
            .unwrap()
            .lines()
            .count(),
        p.ledger_lines().len()
    );
    let mut lines = p.ledger_lines();
    lines[6] = lines[6].replace("\"i\":2", "\"i\":20");
    p.write_ledger_lines(&lines);
    p.gantry(&["ledger", "export", "--out", "bad.jsonl"])
        .fails_with(6)
        .says("does not verify (line 7 (seq 7): hash:")
        .says("nothing was exported");
    assert!(!p.path().join("bad.jsonl").exists());
    p.gantry(&["ledger", "export"]).fails_with(6);
}

#[test]
fn issue12_system_key_rotation_then_seal_export_and_verify() {
    let p = project();
    fill(&p, 3);
    p.gantry(&["ledger", "seal"]).ok();
    p.gantry(&["ledger", "prove", "2", "--out", "old-proof.json"])
        .ok();
    let old_vkey = vkey(&p);
    let old_fp = last_entry(&p)["actor"]["key"].as_str().unwrap().to_string();

    p.gantry(&["agent", "rotate", "gantry"])
        .ok()
        .says("rotated gantry")
        .says("seals and exports now sign with the new key");
    assert!(!p.path().join(".gantry/keys/gantry-next.pem").exists());
    let rotation = last_entry(&p);
    assert_eq!(rotation["kind"], "agent.rotated");
    assert_eq!(rotation["actor"]["key"], old_fp.as_str());
    let new_fp = rotation["body"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();

    // Seals after it are signed by the new key, and the ledger verifies.
    fill(&p, 2);
    p.gantry(&["ledger", "seal"]).ok();
    assert_eq!(last_entry(&p)["actor"]["key"], new_fp.as_str());
    p.gantry(&["ledger", "verify"]).ok().says("2 seals");
    let new_vkey = vkey(&p);
    assert_ne!(new_vkey, old_vkey);
    let keys = p.gantry(&["ledger", "verifier-key", "--json"]).ok().json();
    assert_eq!(keys["retired_verifier_keys"][0], old_vkey.as_str());

    // Old proofs still check (against the key that signed them); new ones need the new key.
    p.gantry(&["ledger", "check-proof", "old-proof.json"]).ok();
    p.gantry(&[
        "ledger",
        "check-proof",
        "old-proof.json",
        "--key",
        &new_vkey,
    ])
    .fails_with(6);
    p.gantry(&["ledger", "prove", "6", "--out", "new-proof.json"])
        .ok();
    p.gantry(&[
        "ledger",
        "check-proof",
        "new-proof.json",
        "--key",
        &new_vkey,
    ])
    .ok();

    // Exports are signed by the new system key.
    p.gantry(&["ledger", "export", "--out", "evidence.jsonl"])
        .ok()
        .says(&new_fp);
    let pem = fs::read_to_string(p.path().join(".gantry/keys/gantry.pem")).unwrap();
    let key = gantry_ledger::key_from_pem(&pem).unwrap().verifying_key();
    assert_eq!(gantry_ledger::fingerprint(&key), new_fp);
    let text = fs::read_to_string(p.path().join("evidence.jsonl")).unwrap();
    for line in text.lines() {
        let env: Value = serde_json::from_str(line).unwrap();
        assert_eq!(env["signatures"][0]["keyid"], new_fp.as_str());
        gantry_ledger::intoto::verify_envelope(line, &key).unwrap();
    }
    // Other roles still register and sign.
    p.append("planner", "plan.after", "{}").ok();
    p.gantry(&["agent", "rotate", "planner"]).ok();
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn issue12_interrupted_system_rotation_is_completed_not_lost() {
    let p = project();
    fill(&p, 2);
    // The state a crash leaves between recording the rotation and installing the key.
    let keys = p.path().join(".gantry/keys");
    let old =
        gantry_ledger::key_from_pem(&fs::read_to_string(keys.join("gantry.pem")).unwrap()).unwrap();
    let next = gantry_ledger::generate_key();
    let pem = gantry_ledger::key_to_pem(&next);
    write_private(&keys.join("gantry-next.pem"), &pem);
    let system = gantry_ledger::Signer::system(old.clone());
    let ledger =
        gantry_ledger::Ledger::open(&p.ledger_path(), gantry_ledger::LedgerOptions::default())
            .unwrap();
    ledger
        .rotate_agent(
            &system,
            "gantry",
            "gantry",
            &system.fingerprint(),
            &next.verifying_key(),
        )
        .unwrap();
    p.gantry(&["ledger", "seal"])
        .fails_with(1)
        .says("rotated out");
    p.gantry(&["agent", "rotate", "gantry"])
        .ok()
        .says("completed an interrupted rotation");
    assert!(!keys.join("gantry-next.pem").exists());
    p.gantry(&["ledger", "seal"]).ok();
    assert_eq!(
        last_entry(&p)["actor"]["key"],
        gantry_ledger::fingerprint(&next.verifying_key()).as_str()
    );
    p.gantry(&["ledger", "verify"]).ok();
    // A waiting key whose rotation was never recorded is discarded, and a new one made.
    write_private(
        &keys.join("gantry-next.pem"),
        &gantry_ledger::key_to_pem(&gantry_ledger::generate_key()),
    );
    p.gantry(&["agent", "rotate", "gantry"])
        .ok()
        .says("rotated gantry");
    assert!(!keys.join("gantry-next.pem").exists());
    p.gantry(&["ledger", "seal"]).ok();
    p.gantry(&["ledger", "verify"]).ok();
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn issue12_truncation_after_a_saved_checkpoint_is_caught() {
    let p = project();
    fill(&p, 5);
    p.gantry(&["ledger", "seal"]).ok();
    let old_size = size_of_last_seal(&p);
    p.gantry(&["ledger", "checkpoint", "--out", "cp-old.txt"])
        .ok()
        .says(&format!("checkpoint of the first {old_size} entries"));
    let note = fs::read_to_string(p.path().join("cp-old.txt")).unwrap();
    assert!(
        note.starts_with(&format!("gantry/test\n{old_size}\n")),
        "{note}"
    );
    fill(&p, 4);
    p.gantry(&["ledger", "verify", "--against", "cp-old.txt"])
        .ok()
        .says(&format!("extends the checkpoint of size {old_size}"));
    p.gantry(&["ledger", "seal"]).ok();
    let new_size = size_of_last_seal(&p);
    p.gantry(&["ledger", "checkpoint", "--out", "cp-new.txt"])
        .ok();
    p.gantry(&[
        "ledger",
        "consistency",
        &old_size.to_string(),
        &new_size.to_string(),
        "--out",
        "proof.json",
    ])
    .ok()
    .says("OK");

    // Offline, with only the two checkpoints, the proof and the key.
    let key = vkey(&p);
    let elsewhere = crate::empty();
    for f in ["cp-old.txt", "cp-new.txt", "proof.json"] {
        fs::copy(p.path().join(f), elsewhere.path().join(f)).unwrap();
    }
    let args = [
        "ledger",
        "check-consistency",
        "cp-old.txt",
        "cp-new.txt",
        "proof.json",
    ];
    elsewhere
        .gantry(&[&args[..], &["--key", &key]].concat())
        .ok()
        .says(&format!("extends the tree of size {old_size}"));
    elsewhere
        .gantry(&[
            "ledger",
            "check-consistency",
            "cp-new.txt",
            "cp-old.txt",
            "proof.json",
            "--key",
            &key,
        ])
        .fails_with(6);
    elsewhere
        .gantry(&[
            "ledger",
            "check-consistency",
            "cp-old.txt",
            "cp-new.txt",
            "proof.json",
        ])
        .fails_with(2)
        .says("--key");

    // Remove the entries after the old checkpoint's, and some of it: the chain alone still
    // verifies, the checkpoint does not.
    let lines = p.ledger_lines();
    p.write_ledger_lines(&lines[..old_size as usize - 2]);
    p.gantry(&["ledger", "verify"]).ok();
    let run = p.gantry(&["ledger", "verify", "--against", "cp-old.txt", "--json"]);
    assert_eq!(run.code(), 6, "{}", run.stdout());
    let report = run.json();
    assert_eq!(report["failure"]["check"], "checkpoint", "{report}");
    assert_eq!(report["failure"]["line"], old_size - 1);
    assert!(
        report["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("truncated")
    );
    p.gantry(&["ledger", "verify", "--against", "cp-old.txt"])
        .fails_with(6)
        .says("checkpoint: the checkpoint covers");
    p.gantry(&["ledger", "verify", "--against", "proof.json"])
        .fails_with(2)
        .says("not a signed checkpoint");
}

#[test]
fn issue12_consistency_claims_verified_only_between_signed_checkpoints() {
    let p = project();
    fill(&p, 5);
    p.gantry(&["ledger", "seal"]).ok();
    let sealed = size_of_last_seal(&p);
    let run = p.gantry(&["ledger", "consistency", "0", &sealed.to_string(), "--json"]);
    assert_eq!(run.code(), 2, "{}", run.stdout());
    assert!(!run.stdout().contains("\"verified\":true"));
    // With --json the error is the JSON error object on stdout (issue 11).
    assert_eq!(run.json()["error"]["code"], "usage", "{}", run.stdout());
    assert!(
        run.stdout().contains("nothing to prove"),
        "{}",
        run.stdout()
    );
    let out = p.gantry(&["ledger", "consistency", "3", &sealed.to_string(), "--json"]);
    assert_eq!(out.code(), 6);
    let out = out.json();
    assert_eq!(out["verified"], false);
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("no seal of size 3"),
        "{out}"
    );
}

#[test]
fn issue12_numbers_beyond_2_53_are_refused_and_cannot_be_edited_in() {
    let p = project();
    let before = p.ledger_lines().len();
    p.append("operator", "ops.big", r#"{"amount": 9007199254740993}"#)
        .fails_with(2)
        .says("body.amount: number 9007199254740993 is beyond");
    p.gantry_stdin(
        &["ledger", "append", "--as", "operator", "--stdin"],
        "{\"kind\":\"ops.ok\",\"body\":{}}\n{\"kind\":\"ops.big\",\"body\":{\"n\":[1,-9007199254740993]}}\n",
    )
    .fails_with(2)
    .says("stdin line 2: body.n[1]: number");
    assert_eq!(p.ledger_lines().len(), before, "nothing committed");
    p.append(
        "operator",
        "ops.big",
        r#"{"amount": 9007199254740991, "id": "9007199254740993"}"#,
    )
    .ok();
    p.gantry(&["ledger", "verify"]).ok();

    // Editing the digits into the file is caught, and `show` does not display them.
    let mut lines = p.ledger_lines();
    let n = lines.len();
    lines[n - 1] = lines[n - 1].replace("9007199254740991,", "9007199254740993,");
    p.write_ledger_lines(&lines);
    p.gantry(&["ledger", "verify"])
        .fails_with(6)
        .says(&format!("line {n} (seq {n}): parse: body.amount"));
    let show = p.gantry(&["ledger", "show"]);
    assert_ne!(show.code(), 0);
    assert!(!show.stdout().contains("9007199254740993"));
    assert!(
        show.stderr().contains(&format!("line {n}")),
        "{}",
        show.stderr()
    );
}

#[test]
fn issue7_failed_append_leaves_no_empty_broken_file() {
    let p = project();
    fill(&p, 20);
    // A torn tail bigger than the file size limit the next writer runs under.
    let torn = format!("{{\"seq\":99,\"ts\":\"{}", "x".repeat(3000));
    let mut bytes = fs::read(p.ledger_path()).unwrap();
    bytes.extend_from_slice(torn.as_bytes());
    fs::write(p.ledger_path(), &bytes).unwrap();
    let broken_files = || {
        fs::read_dir(p.path().join(".gantry"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".broken"))
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };
    for _ in 0..3 {
        let out = limited(
            &p,
            1,
            &["ledger", "append", "--as", "operator", "--kind", "ops.x"],
        );
        assert!(
            !out.status.success(),
            "the append must fail under the limit"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("File too large"), "{err}");
        assert!(
            broken_files().is_empty(),
            "left behind: {:?}",
            broken_files()
        );
        assert_eq!(fs::read(p.ledger_path()).unwrap(), bytes, "file changed");
    }
    // Without the limit the torn tail is moved aside once, and recorded.
    p.append("operator", "ops.x", "{}").ok();
    assert_eq!(broken_files().len(), 1);
    assert_eq!(fs::read(&broken_files()[0]).unwrap(), torn.as_bytes());
    let lines = p.ledger_lines();
    assert!(lines[lines.len() - 2].contains("\"kind\":\"ledger.recovered\""));
    p.gantry(&["ledger", "verify"]).ok();
}

/// Runs gantry with a file size limit of `kib` KiB (writes past it fail with EFBIG).
fn limited(p: &TestProject, kib: u32, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -f {kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .current_dir(p.path());
    for (var, _) in std::env::vars() {
        if var.starts_with("GANTRY_") {
            cmd.env_remove(var);
        }
    }
    cmd.output().expect("run bash")
}

#[test]
fn issue12_append_stdin_memory_stays_flat() {
    let Some(python) = crate::independent_verifier::python(false) else {
        return;
    };
    let p = project();
    let n = 10_000;
    let blob = "y".repeat(2000);
    let input: String = (0..n)
        .map(|i| format!("{{\"kind\":\"load.tick\",\"body\":{{\"i\":{i},\"blob\":\"{blob}\"}}}}\n"))
        .collect();
    fs::write(p.path().join("in.jsonl"), input).unwrap();
    // getrusage(RUSAGE_CHILDREN) of a process whose only child is gantry: its peak RSS.
    let script = "import resource, subprocess, sys\n\
        r = subprocess.run(sys.argv[1:], stdin=open('in.jsonl'), stdout=subprocess.DEVNULL)\n\
        print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let out = Command::new(python)
        .args(["-c", script, env!("CARGO_BIN_EXE_gantry")])
        .args(["ledger", "append", "--as", "operator", "--stdin"])
        .current_dir(p.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let rc: i32 = fields.next().unwrap().parse().unwrap();
    let peak_kib: u64 = fields.next().unwrap().parse().unwrap();
    assert_eq!(rc, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let entries = p
        .ledger_lines()
        .iter()
        .filter(|l| l.contains("\"kind\":\"load.tick\""))
        .count();
    assert_eq!(entries, n);
    assert!(
        peak_kib < 64 * 1024,
        "append --stdin of {n} lines peaked at {peak_kib} KiB"
    );
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn issue12_checkpoint_needs_a_seal_and_a_ledger_that_verifies() {
    let p = project();
    p.gantry(&["ledger", "checkpoint"])
        .fails_with(2)
        .says("gantry ledger seal");
    fill(&p, 2);
    p.gantry(&["ledger", "seal"]).ok();
    let out = p.gantry(&["ledger", "checkpoint", "--json"]).ok().json();
    let note = out["checkpoint"].as_str().unwrap();
    let root = base64::engine::general_purpose::STANDARD
        .decode(out["root"].as_str().unwrap())
        .unwrap();
    assert_eq!(root.len(), 32);
    assert!(note.contains(out["root"].as_str().unwrap()));
    let stdout = p.gantry(&["ledger", "checkpoint"]).ok().stdout();
    assert_eq!(stdout, note);
    let mut lines = p.ledger_lines();
    assert!(lines[5].contains("\"i\":1"));
    lines[5] = lines[5].replace("\"i\":1", "\"i\":7");
    p.write_ledger_lines(&lines);
    p.gantry(&["ledger", "checkpoint"])
        .fails_with(6)
        .says("no checkpoint is given out");
}
