//! The admin token (`.gantry/admin.token`, mode 0600) that the CLI presents to the API.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

pub const FILE: &str = "admin.token";

/// Writes a fresh random token to `gantry_dir/admin.token` unless one exists.
pub fn ensure(gantry_dir: &Path) -> anyhow::Result<()> {
    let path = gantry_dir.join(FILE);
    if path.exists() {
        return Ok(());
    }
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read random bytes for the admin token")?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    writeln!(file, "{text}")?;
    Ok(())
}

/// Reads the token; refuses one other users could read.
pub fn read(gantry_dir: &Path) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var("GANTRY_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let path = gantry_dir.join(FILE);
    let meta = fs::metadata(&path).with_context(|| {
        format!(
            "no admin token at {}: run `gantry init` (it creates one)",
            path.display()
        )
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
            path.display(),
            meta.permissions().mode() & 0o777,
            path.display()
        );
    }
    Ok(fs::read_to_string(&path)?.trim().to_string())
}
