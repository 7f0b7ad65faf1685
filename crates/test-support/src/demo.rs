//! The demo app binary and free ports, for deployment tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `demo-app` next to the `gantry` binary (same target dir and profile), built with cargo
/// if it is not there yet.
pub fn demo_app(gantry_bin: &Path) -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = gantry_bin.parent().expect("gantry binary has a directory");
        let path = dir.join("demo-app");
        if !path.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let release = dir.file_name().is_some_and(|n| n == "release");
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-p", "demo-app", "--quiet"]);
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build -p demo-app");
            assert!(status.success(), "cargo build -p demo-app failed");
        }
        assert!(path.exists(), "no demo-app at {}", path.display());
        path
    })
    .clone()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port")
}
