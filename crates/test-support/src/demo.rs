//! The example apps' binaries (demo-app, grpc-app) and free ports, for deployment tests.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `demo-app` next to the `gantry` binary (same target dir and profile), built with cargo
/// if it is not there yet.
pub fn demo_app(gantry_bin: &Path) -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| workspace_binary(gantry_bin, "demo-app"))
        .clone()
}

/// `grpc-app` (examples/grpc-app: the gRPC health service, `--unavailable` for a broken
/// release) next to the `gantry` binary, built with cargo if it is not there yet.
pub fn grpc_app(gantry_bin: &Path) -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| workspace_binary(gantry_bin, "grpc-app"))
        .clone()
}

/// The binary of workspace package `package` (named like it) beside `gantry_bin`.
fn workspace_binary(gantry_bin: &Path, package: &str) -> PathBuf {
    let dir = gantry_bin.parent().expect("gantry binary has a directory");
    let path = dir.join(package);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-p", package, "--quiet"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("run cargo build -p {package}: {e}"));
        assert!(status.success(), "cargo build -p {package} failed");
    }
    assert!(path.exists(), "no {package} at {}", path.display());
    path
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port")
}
