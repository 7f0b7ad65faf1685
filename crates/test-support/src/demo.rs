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

/// A loopback port that was free a moment ago, for a test to write into a config before
/// anything listens on it.
///
/// Taken below the kernel's ephemeral range: a port handed out by `bind(0)` could be
/// given again, meanwhile, to another test's outgoing connection or port-0 listener (two
/// parallel tests once collided so, and `gantry serve` failed with "Address already in
/// use"). Below the range only callers of this function pick ports, and one process never
/// picks the same one twice; processes start at different offsets.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let from = low.saturating_sub(12_000).max(10_000);
    let width = low.saturating_sub(from);
    // A kernel whose ephemeral range starts low leaves no room: port 0 then.
    if width >= 1000 {
        let offset = std::process::id().wrapping_mul(7919) % width;
        for _ in 0..width {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = from + (offset + n) % width;
            if let Ok(port) = u16::try_from(port)
                && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            {
                return port;
            }
        }
    }
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port")
}
