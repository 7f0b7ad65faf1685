//! Seals, checkpoints, inclusion and consistency proofs, export: the ledger as evidence for
//! others. The ledger's identity (origin, system keys) always comes from the ledger itself.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use gantry_ledger::{ConsistencyProof, Entry, Identity, InclusionProof, KIND_SEALED};
use serde_json::{Value, json};

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

/// The ledger's identity from its genesis and registry entries. When gantry.yaml names
/// another origin (the project was renamed, or `ledger.origin` changed), says so on stderr:
/// checkpoints keep the origin genesis fixed.
fn identity(project: &Project, json: bool) -> anyhow::Result<Identity> {
    let entries = project.entries()?;
    let id = Identity::from_entries(&entries).map_err(exit::failed)?;
    if let Some(configured) = configured_origin(project)
        && configured != id.origin
        && !json
    {
        eprintln!(
            "note: gantry.yaml gives origin {configured:?}, but this ledger's genesis fixed {:?}; \
             checkpoints and verifier keys use the ledger's",
            id.origin
        );
    }
    Ok(id)
}

fn configured_origin(project: &Project) -> Option<String> {
    project.config().ok().map(|c| origin(&c))
}

/// Verifier keys of every system key, newest first.
fn verifier_keys(id: &Identity) -> Vec<String> {
    id.system_keys
        .iter()
        .rev()
        .map(|k| id.verifier_key(k))
        .collect()
}

/// A `--key` value: the key itself, or a file holding it.
fn key_arg(k: &str) -> anyhow::Result<String> {
    if Path::new(k).is_file() {
        let text = fs::read_to_string(k).with_context(|| format!("cannot read {k}"))?;
        return Ok(text.trim().to_string());
    }
    Ok(k.trim().to_string())
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
    let candidates = match key {
        Some(k) => vec![key_arg(k)?],
        None => project_keys(project, json)?,
    };
    // The first key that checks it, else the verdict under the newest one.
    let mut result = Err(gantry_ledger::LedgerError::Proof("no key".into()));
    let mut vkey = String::new();
    for k in &candidates {
        let r = gantry_ledger::check_proof(&proof, k);
        if r.is_ok() || vkey.is_empty() {
            (result, vkey) = (r, k.clone());
        }
        if result.is_ok() {
            break;
        }
    }
    if json {
        output::json(&json!({
            "ok": result.is_ok(),
            "seq": proof.seq,
            "tree_size": proof.tree_size,
            "verifier_key": vkey,
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
        Err(_) if json => Err(exit::silent(exit::VERIFY_FAILED)),
        Err(e) => Err(exit::verify_failed(format!("proof does not verify: {e}"))),
    }
}

/// This project's ledger keys, for commands run without `--key`.
fn project_keys(project: &Project, json: bool) -> anyhow::Result<Vec<String>> {
    let no_key = |e: anyhow::Error| {
        exit::usage(format!(
            "{e:#}; pass --key with the ledger's verifier key (`gantry ledger verifier-key`)"
        ))
    };
    let id = identity(project, json).map_err(no_key)?;
    Ok(verifier_keys(&id))
}

pub fn consistency(
    project: &Project,
    old: u64,
    new: u64,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let entries = project.entries()?;
    let proof = gantry_ledger::consistency(&entries, old, new).map_err(exit::usage)?;
    // Roots computed from this very file prove nothing to anyone: only a proof between two
    // signed checkpoints is evidence, so that alone is "verified".
    let verdict = match (&proof.old_checkpoint, &proof.new_checkpoint) {
        (Some(old_cp), Some(new_cp)) => {
            let id = identity(project, json)?;
            gantry_ledger::check_consistency(old_cp, new_cp, &proof, &verifier_keys(&id))
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "no seal of size {}: there is no signed checkpoint to check the proof against; \
             use sealed sizes ({}) or run `gantry ledger seal`",
            [(old, &proof.old_checkpoint), (new, &proof.new_checkpoint)]
                .iter()
                .filter(|(_, cp)| cp.is_none())
                .map(|(s, _)| s.to_string())
                .collect::<Vec<_>>()
                .join(" or "),
            sealed_sizes(&entries)
        )),
    };
    if let Some(path) = out {
        let text = serde_json::to_string_pretty(&proof)? + "\n";
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        output::json(&json!({
            "proof": proof,
            "verified": verdict.is_ok(),
            "reason": verdict.as_ref().err(),
        }))?;
    } else {
        if out.is_none() {
            println!("{}", serde_json::to_string_pretty(&proof)?);
        }
        match &verdict {
            Ok(()) => {
                println!("OK: the signed tree of size {new} extends the signed tree of size {old}")
            }
            Err(reason) => println!("NOT VERIFIED: {reason}"),
        }
        if let Some(path) = out {
            println!("wrote the proof to {}", path.display());
        }
    }
    match verdict {
        Ok(()) => Ok(()),
        Err(_) => Err(exit::silent(exit::VERIFY_FAILED)),
    }
}

fn sealed_sizes(entries: &[Entry]) -> String {
    let sizes: Vec<String> = entries
        .iter()
        .filter(|e| e.kind == KIND_SEALED)
        .filter_map(|e| e.body.get("size").and_then(Value::as_u64))
        .map(|s| s.to_string())
        .collect();
    if sizes.is_empty() {
        "none yet".into()
    } else {
        sizes.join(", ")
    }
}

/// A checkpoint file's text, as `gantry ledger checkpoint` wrote it.
pub fn read_checkpoint(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path)
        .map_err(|e| exit::usage(format!("cannot read checkpoint {}: {e}", path.display())))
}

pub fn check_consistency(
    project: &Project,
    [old, new, proof_path]: [&Path; 3],
    keys: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let (old_note, new_note) = (read_checkpoint(old)?, read_checkpoint(new)?);
    let text = fs::read_to_string(proof_path)
        .map_err(|e| exit::usage(format!("cannot read {}: {e}", proof_path.display())))?;
    let proof: ConsistencyProof = serde_json::from_str(&text).map_err(|e| {
        exit::usage(format!(
            "{}: not a consistency proof (write one with `gantry ledger consistency OLD NEW --out FILE`): {e}",
            proof_path.display()
        ))
    })?;
    let keys = if keys.is_empty() {
        project_keys(project, json)?
    } else {
        keys.iter()
            .map(|k| key_arg(k))
            .collect::<anyhow::Result<_>>()?
    };
    let result = gantry_ledger::check_consistency(&old_note, &new_note, &proof, &keys);
    if json {
        output::json(&json!({
            "ok": result.is_ok(),
            "old_size": proof.old_size,
            "new_size": proof.new_size,
            "error": result.as_ref().err().map(|e| e.to_string()),
        }))?;
    }
    match result {
        Ok((o, n)) => {
            if !json {
                println!(
                    "OK: {}: the tree of size {} extends the tree of size {}, both signed",
                    o.origin, n.size, o.size
                );
            }
            Ok(())
        }
        Err(_) if json => Err(exit::silent(exit::VERIFY_FAILED)),
        Err(e) => Err(exit::verify_failed(format!("not consistent: {e}"))),
    }
}

pub fn verifier_key(project: &Project, json: bool) -> anyhow::Result<()> {
    let id = identity(project, json)?;
    let current = id.current().context("the ledger has no valid system key")?;
    let vkey = id.verifier_key(current);
    if json {
        let retired: Vec<String> = id
            .system_keys
            .iter()
            .filter(|k| k.until_seq.is_some())
            .map(|k| id.verifier_key(k))
            .collect();
        return output::json(&json!({
            "verifier_key": vkey,
            "origin": id.origin,
            "configured_origin": configured_origin(project),
            "retired_verifier_keys": retired,
        }));
    }
    println!("{vkey}");
    Ok(())
}

/// Verifies the whole ledger, or explains why nothing is handed out.
fn require_verified(project: &Project, what: &str) -> anyhow::Result<u64> {
    let path = project.existing_ledger()?;
    let report = gantry_ledger::verify(&path)?;
    match report.failure {
        None => Ok(report.entries),
        Some(f) => Err(exit::verify_failed(format!(
            "{} does not verify ({f}); {what} (entries before line {} are intact)",
            path.display(),
            f.line
        ))),
    }
}

pub fn checkpoint(project: &Project, out: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let verified = require_verified(project, "no checkpoint is given out")?;
    let entries = project.entries()?;
    let entries = &entries[..(verified as usize).min(entries.len())];
    let Some(seal) = entries.iter().rev().find(|e| e.kind == KIND_SEALED) else {
        return Err(exit::usage(
            "the ledger has no seal yet: run `gantry ledger seal` first",
        ));
    };
    let note = seal
        .body
        .get("checkpoint")
        .and_then(Value::as_str)
        .context("the seal has no checkpoint")?;
    let size = seal.body.get("size").and_then(Value::as_u64).unwrap_or(0);
    let unsealed = entries.len() as u64 - seal.seq;
    match out {
        Some(path) => {
            fs::write(path, note).with_context(|| format!("cannot write {}", path.display()))?
        }
        None if !json => print!("{note}"),
        None => {}
    }
    if json {
        return output::json(&json!({
            "checkpoint": note,
            "size": size,
            "root": seal.body.get("root"),
            "seal_seq": seal.seq,
            "signed_by": seal.actor.key,
            "unsealed_entries": unsealed,
            "out": out,
        }));
    }
    let mut msg = format!(
        "checkpoint of the first {size} entries (seal at seq {}, signed by {})",
        seal.seq, seal.actor.key
    );
    if let Some(path) = out {
        msg = format!("wrote the {msg} to {}", path.display());
    }
    if unsealed > 0 {
        msg.push_str(&format!(
            "; {unsealed} entries after it are not sealed yet (`gantry ledger seal`)"
        ));
    }
    eprintln!("{msg}");
    Ok(())
}

pub fn export(
    project: &Project,
    format: ExportFormat,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let ExportFormat::InToto = format;
    let verified = require_verified(project, "nothing was exported")?;
    let mut entries = project.entries()?;
    // Entries appended after the verification are left for the next export.
    entries.truncate(verified as usize);
    let system = project.system_signer()?;
    let id = Identity::from_entries(&entries).map_err(exit::failed)?;
    let current = id.current().map(|k| k.fingerprint.as_str());
    if current != Some(system.fingerprint().as_str()) {
        return Err(exit::usage(format!(
            "the system key here ({}) is not the ledger's current system key ({}); \
             envelopes must be signed by the key the ledger names",
            system.fingerprint(),
            current.unwrap_or("none")
        )));
    }
    let mut buf = Vec::new();
    gantry_ledger::intoto::export(&entries, &system, &mut buf)?;
    match out {
        Some(path) => {
            fs::write(path, &buf).with_context(|| format!("cannot write {}", path.display()))?;
            if json {
                output::json(
                    &json!({"out": path, "envelopes": entries.len(), "keyid": system.fingerprint()}),
                )?;
            } else {
                println!(
                    "wrote {} DSSE envelopes (in-toto Statement v1) to {}, signed by the system key {}",
                    entries.len(),
                    path.display(),
                    system.fingerprint()
                );
            }
        }
        None => std::io::stdout().write_all(&buf)?,
    }
    Ok(())
}
