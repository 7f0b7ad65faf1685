//! Rotating the system key (`gantry agent rotate gantry`), which signs registrations,
//! seals and exports. Nobody could re-rotate it if its new private key were lost, so the
//! new key is on disk before the rotation is recorded, and a rotation a crash interrupted
//! is completed by running the command again.

use anyhow::Context;
use gantry_ledger::{Ledger, fingerprint};

use crate::exit;
use crate::project::{Project, SYSTEM_ROLE};

/// Where a new system key waits while its rotation is being recorded.
const SYSTEM_NEXT: &str = "gantry-next";

/// Rotates the key that signs registrations and seals. Nobody could re-rotate it if its
/// new private key were lost, so the new key is on disk (as `gantry-next.pem`) before the
/// rotation is recorded and only then takes the place of the old one.
pub(super) fn rotate(
    project: &Project,
    ledger: &Ledger,
    system: &gantry_ledger::Signer,
    old_fp: &str,
    key: &gantry_ledger::SigningKey,
) -> anyhow::Result<gantry_ledger::Entry> {
    let keys = project.keys();
    if let Some(gantry_agents::KeySource::Env(var)) = keys.source_of(SYSTEM_ROLE) {
        return Err(exit::usage(format!(
            "the system key comes from ${var}: rotate it where its key file lives"
        )));
    }
    keys.save(SYSTEM_NEXT, key, true).map_err(exit::usage)?;
    let entry = ledger.rotate_agent(
        system,
        SYSTEM_ROLE,
        SYSTEM_ROLE,
        old_fp,
        &key.verifying_key(),
    )?;
    install_next(project)?;
    Ok(entry)
}

/// Completes a system rotation a crash interrupted: if `gantry-next.pem` holds the key the
/// ledger already made current, it becomes `gantry.pem` (and its fingerprint is returned);
/// if the rotation never got recorded, the waiting key is discarded.
pub(super) fn finish(project: &Project) -> anyhow::Result<Option<String>> {
    let keys = project.keys();
    if !keys.path_for(SYSTEM_NEXT).exists() {
        return Ok(None);
    }
    let (next, _) = keys.load(SYSTEM_NEXT).map_err(exit::usage)?;
    let state = project.state()?;
    let active = state
        .agents
        .get(SYSTEM_ROLE)
        .and_then(|a| a.active_key())
        .map(|k| k.fingerprint.clone());
    let next_fp = fingerprint(&next.verifying_key());
    if active.as_deref() == Some(next_fp.as_str()) {
        install_next(project)?;
        return Ok(Some(next_fp));
    }
    std::fs::remove_file(keys.path_for(SYSTEM_NEXT))
        .with_context(|| format!("cannot remove {}", keys.path_for(SYSTEM_NEXT).display()))?;
    Ok(None)
}

fn install_next(project: &Project) -> anyhow::Result<()> {
    let keys = project.keys();
    let (from, to) = (keys.path_for(SYSTEM_NEXT), keys.path_for(SYSTEM_ROLE));
    std::fs::rename(&from, &to)
        .and_then(|()| std::fs::File::open(keys.dir())?.sync_all())
        .with_context(|| {
            format!(
                "the rotation is recorded but {} could not replace {}; move it there by hand",
                from.display(),
                to.display()
            )
        })
}
