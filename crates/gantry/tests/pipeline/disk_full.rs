//! Issue 7: a step whose log cannot be written (a full disk) fails with the reason instead
//! of passing with its log silently cut, and the ledger still verifies.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{last_run, project};

/// A tmpfs mounted over a directory, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a process still holds a file there): detach it now, free it later.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

#[test]
fn issue7_full_disk_fails_the_step_with_the_reason() {
    let p = project(
        r#"
  p:
    stages:
      - name: flood
        steps:
          - { name: flood, run: "head -c 4000000 /dev/zero | tr '\\0' x | fold -w 100" }
      - { name: after, steps: [ { run: touch after-ran } ] }
"#,
    );
    let runs = p.path().join(".gantry/runs");
    std::fs::create_dir_all(&runs).unwrap();
    let _tmpfs = match Tmpfs::mount(&runs, "256k") {
        Ok(mount) => mount,
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: {why}");
            return;
        }
        Err(why) => panic!("CI is set, so the full-disk test must run: {why}"),
    };
    let reason = "step log: No space left on device (os error 28)";
    let out = p.gantry(&["run", "p"]).fails_with(1).says(reason);
    assert!(out.stdout().contains("✗ flood failed"), "{}", out.stdout());
    assert!(!out.stdout().contains("✓ flood"), "{}", out.stdout());
    let run = last_run(&p);

    let failed = p.entries_of("step.state.failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["body"]["name"], "flood");
    assert_eq!(
        failed[0]["body"]["exit_code"], 0,
        "the step itself succeeded"
    );
    assert_eq!(failed[0]["body"]["reason"], reason);
    assert!(p.entries_of("step.state.succeeded").is_empty());
    let end = p.entries_of("pipeline.state.failed");
    assert_eq!(end[0]["body"]["run"], run.as_str());
    let why = end[0]["body"]["reason"].as_str().unwrap();
    assert!(why.contains(reason), "{why}");
    assert!(!p.path().join("after-ran").exists());

    // What was recorded stays readable and verifiable; the cut log is what its hash says.
    p.gantry(&["ledger", "verify"]).ok();
    p.gantry(&["runs", "show", &run]).ok().says("flood");
    let log = p.path().join(failed[0]["body"]["log"].as_str().unwrap());
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes.len() < 300 * 1024, "{} bytes", bytes.len());
    assert_eq!(
        failed[0]["body"]["log_sha256"],
        gantry_test_support::pipeline::sha256_hex(&bytes).as_str()
    );
}
