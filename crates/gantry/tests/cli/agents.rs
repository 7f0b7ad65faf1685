use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::project;

#[test]
fn keys_are_0600_and_list_shows_fingerprints() {
    let p = project();
    for role in ["gantry", "planner", "operator", "verifier"] {
        let path = p.path().join(format!(".gantry/keys/{role}.pem"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
    }
    p.gantry(&["agent", "list"])
        .ok()
        .says("PlanAgent")
        .says("SHA256:");
}

#[test]
fn keygen_refuses_unknown_and_registered_roles() {
    let p = project();
    p.gantry(&["agent", "keygen", "janitor"])
        .fails_with(2)
        .says("unknown role 'janitor'");
    p.gantry(&["agent", "keygen", "planner"])
        .fails_with(2)
        .says("gantry agent rotate planner");
}

#[test]
fn keygen_registers_a_new_role_in_the_ledger() {
    let p = project();
    let config = fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    let config = config.replacen("agents:\n", "agents:\n  auditor: { id: AuditAgent }\n", 1);
    fs::write(p.path().join("gantry.yaml"), config).unwrap();
    let out = p
        .gantry(&["agent", "keygen", "auditor", "--json"])
        .ok()
        .json();
    let fp = out["fingerprint"].as_str().unwrap().to_string();
    let reg = p
        .gantry(&["ledger", "show", "--json", "--kind", "agent.registered"])
        .ok()
        .json();
    assert!(
        reg.as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"]["fingerprint"] == fp.as_str())
    );
    p.append("auditor", "audit.done", "{}").ok();
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn a_missing_or_loose_key_is_a_clear_error() {
    let p = project();
    let key = p.path().join(".gantry/keys/verifier.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    p.append("verifier", "x.y", "{}")
        .fails_with(2)
        .says("0644")
        .says("chmod 600");
    fs::remove_file(&key).unwrap();
    p.append("verifier", "x.y", "{}")
        .fails_with(2)
        .says("GANTRY_KEY_VERIFIER");
    p.append("nobody", "x.y", "{}")
        .fails_with(2)
        .says("unknown role 'nobody'");
}

#[test]
fn a_key_can_come_from_the_environment() {
    let p = project();
    let key = p.path().join(".gantry/keys/operator.pem");
    let pem = fs::read_to_string(&key).unwrap();
    fs::remove_file(&key).unwrap();
    let out = p
        .command(&[
            "ledger", "append", "--as", "operator", "--kind", "ci.step", "--json",
        ])
        .env("GANTRY_KEY_OPERATOR", pem)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn rotation_keeps_old_entries_valid_and_retires_the_old_key() {
    let p = project();
    p.append("planner", "plan.one", "{}").ok();
    let old_pem = fs::read_to_string(p.path().join(".gantry/keys/planner.pem")).unwrap();
    p.gantry(&["agent", "rotate", "planner"])
        .ok()
        .says("rotated planner");
    p.append("planner", "plan.two", "{}").ok();
    p.gantry(&["ledger", "verify"]).ok();
    let list = p.gantry(&["agent", "list", "--json"]).ok().json();
    let planner = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "planner")
        .unwrap()
        .clone();
    assert_eq!(planner["retired_keys"], 1);

    // The retired key is refused for new entries by the CLI...
    fs::write(p.path().join(".gantry/keys/planner.pem"), &old_pem).unwrap();
    p.append("planner", "plan.three", "{}")
        .fails_with(2)
        .says("not the registered active key");
}
