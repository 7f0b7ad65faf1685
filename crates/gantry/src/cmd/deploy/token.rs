//! The admin token that the CLI presents to the API and `gantry serve` requires: the value
//! of `GANTRY_TOKEN` if set and not empty, else `.gantry/admin.token` (mode 0600).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

pub const FILE: &str = "admin.token";
pub const ENV: &str = "GANTRY_TOKEN";

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

/// Where a token came from, for messages that must say which one to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    File(std::path::PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Env => write!(f, "{ENV}"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Source {
    /// How to replace a token from here with a good one.
    pub fn remedy(&self) -> String {
        match self {
            Source::Env => format!(
                "set {ENV} to 32 or more random characters, e.g. `export {ENV}=$(openssl rand -hex 32)`, \
                 or unset it to use .gantry/{FILE}"
            ),
            Source::File(p) => format!(
                "remove {} and start `gantry serve` again: it writes a new random token there \
                 (the CLI reads it from that file)",
                p.display()
            ),
        }
    }
}

/// Reads the token (`GANTRY_TOKEN` first); refuses a file other users could read.
pub fn read(gantry_dir: &Path) -> anyhow::Result<(String, Source)> {
    if let Ok(t) = std::env::var(ENV)
        && !t.trim().is_empty()
    {
        return Ok((t.trim().to_string(), Source::Env));
    }
    read_file(gantry_dir)
}

/// The admin token for `gantry serve`: `GANTRY_TOKEN` unless it holds a role token from
/// `gantry token create` (a viewer's token in the environment must not become the admin
/// token of the control plane started there), else `.gantry/admin.token`.
pub fn read_admin(gantry_dir: &Path) -> anyhow::Result<(String, Source)> {
    if let Ok(t) = std::env::var(ENV)
        && !t.trim().is_empty()
    {
        let store = gantry_access::TokenStore::new(gantry_dir);
        let known = store
            .authenticate(t.trim(), time::OffsetDateTime::now_utc())
            .map_err(|e| anyhow::anyhow!(e))?;
        if known == Err(gantry_access::Denied::Unknown) {
            return Ok((t.trim().to_string(), Source::Env));
        }
        eprintln!("warning: {ENV} holds a role token; the admin token comes from .gantry/{FILE}");
    }
    read_file(gantry_dir)
}

fn read_file(gantry_dir: &Path) -> anyhow::Result<(String, Source)> {
    let path = gantry_dir.join(FILE);
    let meta = fs::metadata(&path).with_context(|| {
        format!(
            "no admin token at {} and no {ENV} set: run `gantry init` (it creates one)",
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
    let text = fs::read_to_string(&path)?.trim().to_string();
    Ok((text, Source::File(path)))
}
