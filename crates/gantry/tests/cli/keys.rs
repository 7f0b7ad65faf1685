//! Issue 7: the keys directory is 0700, and neither it nor a key file may lead out of
//! `.gantry/` by a symlink; refusals name the path, where it points and what to run.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use crate::project;

#[test]
fn issue7_init_creates_the_keys_directory_0700() {
    let p = project();
    let mode = fs::metadata(p.path().join(".gantry/keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn issue7_loose_keys_directory_is_refused_with_the_chmod_to_run() {
    let p = project();
    let dir = p.path().join(".gantry/keys");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let before = p.ledger_lines();
    p.append("planner", "plan.drafted", "{}")
        .fails_with(2)
        .says(&format!("{} has mode 0755", dir.display()))
        .says(&format!("(run `chmod 700 {}`)", dir.display()));
    // keygen neither tightens nor uses a directory others could have changed.
    let config = fs::read_to_string(p.path().join("gantry.yaml")).unwrap();
    let config = config.replacen("agents:\n", "agents:\n  auditor: { id: AuditAgent }\n", 1);
    fs::write(p.path().join("gantry.yaml"), config).unwrap();
    p.gantry(&["agent", "keygen", "auditor"])
        .fails_with(2)
        .says("chmod 700");
    assert!(!dir.join("auditor.pem").exists());
    assert_eq!(p.ledger_lines(), before);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    p.append("planner", "plan.drafted", "{}").ok();
    p.gantry(&["agent", "keygen", "auditor"]).ok();
    p.gantry(&["ledger", "verify"]).ok();
}

#[test]
fn issue7_key_file_symlinked_out_of_gantry_dir_is_refused() {
    let p = project();
    let key = p.path().join(".gantry/keys/planner.pem");
    let planted = p.path().join("planner.pem");
    fs::rename(&key, &planted).unwrap();
    symlink(&planted, &key).unwrap();
    let before = p.ledger_lines();
    p.append("planner", "plan.drafted", "{}")
        .fails_with(2)
        .says(&format!(
            "{} is a symlink to {}, outside {}",
            key.display(),
            planted.display(),
            p.path().join(".gantry").display()
        ));
    assert_eq!(p.ledger_lines(), before);
}

#[test]
fn issue7_keys_directory_symlinked_out_of_gantry_dir_is_refused() {
    let p = project();
    let dir = p.path().join(".gantry/keys");
    let elsewhere = p.path().join("shared-keys");
    fs::rename(&dir, &elsewhere).unwrap();
    symlink("../shared-keys", &dir).unwrap();
    let before = p.ledger_lines();
    p.append("operator", "deploy.approved", "{}")
        .fails_with(2)
        .says(&format!(
            "{} is a symlink to ../shared-keys, which is ",
            dir.display()
        ))
        .says("shared-keys, outside ");
    assert_eq!(p.ledger_lines(), before);
    // Linked inside .gantry/, the same keys are fine.
    fs::remove_file(&dir).unwrap();
    fs::rename(&elsewhere, p.path().join(".gantry/keys.d")).unwrap();
    symlink("keys.d", &dir).unwrap();
    p.append("operator", "deploy.approved", "{}").ok();
}
