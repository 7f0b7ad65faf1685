//! Issue 7: the keys directory is 0700 and neither it nor a key file may be a symlink out
//! of `.gantry/`.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use gantry_agents::{KeyStore, KeyStoreError};

/// A `.gantry/` with a key store holding a planner key, and a directory outside it.
fn setup() -> (tempfile::TempDir, KeyStore) {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join(".gantry")).unwrap();
    fs::create_dir(tmp.path().join("outside")).unwrap();
    let store = KeyStore::new(tmp.path().join(".gantry/keys"));
    store.generate("planner").unwrap();
    (tmp, store)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn issue7_keys_directory_is_created_0700() {
    let (_tmp, store) = setup();
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(&store.path_for("planner")), 0o600);
}

#[test]
fn issue7_loose_keys_directory_is_refused_with_the_chmod_to_run() {
    let (_tmp, store) = setup();
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o755)).unwrap();
    let err = store.load_with("planner", |_| None).unwrap_err();
    assert!(
        matches!(err, KeyStoreError::BadDirMode { mode: 0o755, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{dir} has mode 0755; the keys directory must be 0700, so that no other user can \
             add, swap or list keys (run `chmod 700 {dir}`)",
            dir = store.dir().display()
        )
    );
    // Writing a key does not quietly tighten (or use) a directory others could change.
    let err = store.generate("operator").unwrap_err();
    assert!(matches!(err, KeyStoreError::BadDirMode { .. }), "{err}");
    assert!(!store.path_for("operator").exists());
    // Group-readable is as loose as world-readable; a stricter mode is fine to read from.
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o740)).unwrap();
    assert!(store.load_with("planner", |_| None).is_err());
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o500)).unwrap();
    store.load_with("planner", |_| None).unwrap();
    fs::set_permissions(store.dir(), fs::Permissions::from_mode(0o700)).unwrap();
    store.load_with("planner", |_| None).unwrap();
}

#[test]
fn issue7_key_file_symlinked_outside_gantry_dir_is_refused() {
    let (tmp, store) = setup();
    let planted = tmp.path().join("outside/planner.pem");
    fs::rename(store.path_for("planner"), &planted).unwrap();
    symlink(&planted, store.path_for("planner")).unwrap();
    let err = store.load_with("planner", |_| None).unwrap_err();
    let gantry_dir = tmp.path().join(".gantry");
    assert_eq!(
        err.to_string(),
        format!(
            "{link} is a symlink to {target}, outside {root}; keys are used only from inside \
             {root}: move them there instead of linking to them",
            link = store.path_for("planner").display(),
            target = planted.display(),
            root = gantry_dir.display()
        )
    );
    // A relative link is named as written, with where it really points.
    fs::remove_file(store.path_for("planner")).unwrap();
    symlink("../../outside/planner.pem", store.path_for("planner")).unwrap();
    let err = store
        .load_with("planner", |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is a symlink to ../../outside/planner.pem, which is "),
        "{err}"
    );
    assert!(err.contains("outside/planner.pem, outside "), "{err}");
    // A dangling link is refused too, and never replaced by a new key.
    fs::remove_file(&planted).unwrap();
    let err = store
        .load_with("planner", |_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("which does not resolve"), "{err}");
    assert!(matches!(
        store.generate("planner"),
        Err(KeyStoreError::Exists { .. })
    ));
}

#[test]
fn issue7_keys_directory_symlinked_outside_gantry_dir_is_refused() {
    let (tmp, store) = setup();
    let elsewhere = tmp.path().join("outside/keys");
    fs::rename(store.dir(), &elsewhere).unwrap();
    symlink(&elsewhere, store.dir()).unwrap();
    let err = store.load_with("planner", |_| None).unwrap_err();
    assert!(matches!(err, KeyStoreError::Symlink { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{} is a symlink to {}, outside ",
            store.dir().display(),
            elsewhere.display()
        )),
        "{text}"
    );
    let err = store.generate("operator").unwrap_err();
    assert!(matches!(err, KeyStoreError::Symlink { .. }), "{err}");
    assert!(!elsewhere.join("operator.pem").exists());
}

#[test]
fn links_that_stay_inside_gantry_dir_are_fine() {
    let (tmp, store) = setup();
    let gantry = tmp.path().join(".gantry");
    // The keys directory moved to .gantry/keys.d and linked by a relative name.
    fs::rename(store.dir(), gantry.join("keys.d")).unwrap();
    symlink("keys.d", store.dir()).unwrap();
    store.load_with("planner", |_| None).unwrap();
    // A key file linked to another file inside .gantry/ (mode 0600 as usual).
    fs::rename(store.path_for("planner"), gantry.join("planner.pem")).unwrap();
    symlink("../planner.pem", store.path_for("planner")).unwrap();
    store.load_with("planner", |_| None).unwrap();
    store.generate("verifier").unwrap();
    store.load_with("verifier", |_| None).unwrap();
}
