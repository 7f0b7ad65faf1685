//! `gantry ledger …`: the evidence ledger from the command line.

mod append;
mod proofs;
mod show;

use std::path::Path;

use serde_json::json;

use crate::cli::LedgerCommand;
use crate::project::Project;
use crate::{exit, output};

pub fn run(project: &Project, cmd: LedgerCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        LedgerCommand::Append(args) => append::run(project, &args, json),
        LedgerCommand::Show(args) => show::run(project, &args, json),
        LedgerCommand::Verify { against } => verify(project, against.as_deref(), json),
        LedgerCommand::Seal => seal(project, json),
        LedgerCommand::Checkpoint { out } => proofs::checkpoint(project, out.as_deref(), json),
        LedgerCommand::Prove { seq, out } => proofs::prove(project, seq, out.as_deref(), json),
        LedgerCommand::CheckProof { proof, key } => {
            proofs::check(project, &proof, key.as_deref(), json)
        }
        LedgerCommand::Consistency { old, new, out } => {
            proofs::consistency(project, old, new, out.as_deref(), json)
        }
        LedgerCommand::CheckConsistency {
            old,
            new,
            proof,
            key,
        } => proofs::check_consistency(project, [&old, &new, &proof], &key, json),
        LedgerCommand::VerifierKey => proofs::verifier_key(project, json),
        LedgerCommand::Export { format, out } => {
            proofs::export(project, format, out.as_deref(), json)
        }
    }
}

fn verify(project: &Project, against: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let path = project.existing_ledger()?;
    let note = against.map(proofs::read_checkpoint).transpose()?;
    let report = gantry_ledger::verify_against(&path, note.as_deref()).map_err(|e| match e {
        gantry_ledger::LedgerError::Note(_) => exit::usage(format!(
            "{}: not a signed checkpoint: {e}",
            against.map(|p| p.display().to_string()).unwrap_or_default()
        )),
        other => other.into(),
    })?;
    let warnings = unauthorised(project, &report)?;
    if json {
        let mut doc = serde_json::to_value(&report)?;
        doc["unauthorised"] = serde_json::to_value(&warnings)?;
        output::json(&doc)?;
    } else if let Some(failure) = &report.failure {
        println!("FAILED {}: {failure}", path.display());
        println!("(entries before line {} are intact)", failure.line);
    } else {
        println!(
            "OK {}: {} entries, {} seals, chain, hashes, signatures and keys valid; head {}",
            path.display(),
            report.entries,
            report.seals,
            report.last_hash
        );
        if let Some(anchored) = &report.anchored {
            println!(
                "contains and extends the checkpoint of size {} (root {}, signed by {})",
                anchored.size, anchored.root, anchored.signed_by
            );
        }
        for w in &warnings {
            println!(
                "warning: unauthorised entry at seq {} ({}, signed by {}): {}; it changes nothing",
                w.seq, w.kind, w.signer, w.reason
            );
        }
        if report.torn_tail_bytes > 0 {
            println!(
                "note: {} bytes of an unfinished write at the end were never acknowledged; \
                 the next append moves them to a .broken file",
                report.torn_tail_bytes
            );
        }
    }
    match report.failure {
        Some(_) => Err(exit::silent(exit::VERIFY_FAILED)),
        None => Ok(()),
    }
}

/// Entries that verify but whose signer may not write their kind (the rule table in
/// `gantry_state::authority`): a named warning, not a failure, because the ledger is intact
/// and authentic — the entry is a true record of an attempt — and failing would let any
/// registered agent break verification of the whole ledger for good. Judged only over a
/// ledger that verified: the fold trusts `actor` only as far as the signatures prove it.
fn unauthorised(
    project: &Project,
    report: &gantry_ledger::VerifyReport,
) -> anyhow::Result<Vec<gantry_state::Rejection>> {
    if report.failure.is_some() {
        return Ok(Vec::new());
    }
    Ok(gantry_state::State::replay(&project.entries()?).rejected)
}

fn seal(project: &Project, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let ledger = project.open_ledger(&config)?;
    let system = project.system_signer()?;
    let entry = ledger.seal(&system)?;
    if json {
        return output::json(&entry);
    }
    let size = entry.body.get("size").cloned().unwrap_or(json!(null));
    println!("sealed {size} entries at seq {}", entry.seq);
    if let Some(note) = entry.body.get("checkpoint").and_then(|c| c.as_str()) {
        print!("{note}");
    }
    Ok(())
}
