//! Seals, inclusion and consistency proofs, export: the ledger as evidence for others.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use gantry_ledger::{InclusionProof, note_verifier_key};
use serde_json::json;

use crate::cli::ExportFormat;
use crate::project::{Project, origin};
use crate::{exit, output};

pub fn prove(project: &Project, seq: u64, out: Option<&Path>, _json: bool) -> anyhow::Result<()> {
    let entries = project.entries()?;
    if seq == 0 || seq > entries.len() as u64 {
        return Err(exit::usage(format!(
            "no entry with seq {seq}: the ledger has entries 1..={}",
            entries.len()
        )));
    }
    let proof = gantry_ledger::prove(&entries, seq).map_err(exit::usage)?;
    let text = serde_json::to_string_pretty(&proof)? + "\n";
    match out {
        Some(path) => {
            fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote inclusion proof for seq {seq} (tree size {}) to {}",
                proof.tree_size,
                path.display()
            );
        }
        // The proof is itself the machine-readable answer, with or without --json.
        None => print!("{text}"),
    }
    Ok(())
}

pub fn check(
    project: &Project,
    proof_path: &Path,
    key: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let text = fs::read_to_string(proof_path)
        .map_err(|e| exit::usage(format!("cannot read {}: {e}", proof_path.display())))?;
    let proof: InclusionProof = serde_json::from_str(&text).map_err(|e| {
        exit::usage(format!(
            "{}: not an inclusion proof: {e}",
            proof_path.display()
        ))
    })?;
    let vkey = match key {
        Some(k) if Path::new(k).is_file() => fs::read_to_string(k)?.trim().to_string(),
        Some(k) => k.trim().to_string(),
        None => project_verifier_key(project).map_err(|e| {
            exit::usage(format!(
                "{e:#}; pass --key with the ledger's verifier key (`gantry ledger verifier-key`)"
            ))
        })?,
    };
    let result = gantry_ledger::check_proof(&proof, &vkey);
    if json {
        output::json(&json!({
            "ok": result.is_ok(),
            "seq": proof.seq,
            "tree_size": proof.tree_size,
            "error": result.as_ref().err().map(|e| e.to_string()),
        }))?;
    }
    match result {
        Ok(()) => {
            if !json {
                println!(
                    "OK: entry {} ({}) is included in the tree of size {} signed by {}",
                    proof.seq, proof.entry_hash, proof.tree_size, vkey
                );
            }
            Ok(())
        }
        // The JSON verdict above already carries the error.
        Err(_) if json => Err(exit::silent(exit::FAILED)),
        Err(e) => Err(exit::failed(format!("proof does not verify: {e}"))),
    }
}

pub fn consistency(project: &Project, old: u64, new: u64, json: bool) -> anyhow::Result<()> {
    let entries = project.entries()?;
    let proof = gantry_ledger::consistency(&entries, old, new).map_err(exit::usage)?;
    // With both sizes sealed, the signed checkpoints must agree with the proof as well.
    let sealed = proof.old_checkpoint.is_some() && proof.new_checkpoint.is_some();
    let vkey = if sealed {
        Some(project_verifier_key(project)?)
    } else {
        None
    };
    let verified = gantry_ledger::verify_consistency(&proof, vkey.as_deref()).is_ok();
    if json {
        output::json(&json!({"proof": proof, "verified": verified}))?;
    } else {
        println!("{}", serde_json::to_string_pretty(&proof)?);
        println!(
            "{}",
            if verified {
                "OK: consistent"
            } else {
                "FAILED: not consistent"
            }
        );
    }
    if verified {
        Ok(())
    } else {
        Err(exit::silent(exit::FAILED))
    }
}

fn project_verifier_key(project: &Project) -> anyhow::Result<String> {
    let config = project.config()?;
    let state = project.state()?;
    let system = state
        .agents
        .get(crate::project::SYSTEM_ROLE)
        .and_then(|a| a.active_key())
        .context("the ledger has no system key")?;
    let key = gantry_ledger::public_key_from_base64(&system.public_key)?;
    Ok(note_verifier_key(&origin(&config), &key))
}

pub fn verifier_key(project: &Project, json: bool) -> anyhow::Result<()> {
    let vkey = project_verifier_key(project)?;
    if json {
        return output::json(&json!({"verifier_key": vkey}));
    }
    println!("{vkey}");
    Ok(())
}

pub fn export(
    project: &Project,
    format: ExportFormat,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let ExportFormat::InToto = format;
    let entries = project.entries()?;
    let system = project.system_signer()?;
    let mut buf = Vec::new();
    gantry_ledger::intoto::export(&entries, &system, &mut buf)?;
    match out {
        Some(path) => {
            fs::write(path, &buf).with_context(|| format!("cannot write {}", path.display()))?;
            if json {
                output::json(&json!({"out": path, "envelopes": entries.len()}))?;
            } else {
                println!(
                    "wrote {} DSSE envelopes (in-toto Statement v1) to {}",
                    entries.len(),
                    path.display()
                );
            }
        }
        None => std::io::stdout().write_all(&buf)?,
    }
    Ok(())
}
