//! Inclusion and consistency proofs over a ledger's entries, anchored in seal checkpoints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{Entry, KIND_SEALED};
use crate::error::{LedgerError, Result};
use crate::merkle::{self, Hash};
use crate::note::{open_checkpoint, parse_verifier_key};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    pub seq: u64,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// The entry's `hash` (hex); the Merkle leaf data is its 32 raw bytes.
    pub entry_hash: String,
    /// Audit path, hex.
    pub proof: Vec<String>,
    /// The seal's signed checkpoint note.
    pub checkpoint: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    /// Base64 roots, as in checkpoints.
    pub old_root: String,
    pub new_root: String,
    /// Hex hashes.
    pub proof: Vec<String>,
    /// Checkpoints of seals with exactly these sizes, when the ledger has them.
    pub old_checkpoint: Option<String>,
    pub new_checkpoint: Option<String>,
}

/// Leaf hashes of the first `size` entries, checking they are numbered 1..=size.
fn leaves(entries: &[Entry], size: u64) -> Result<Vec<Hash>> {
    let n = usize::try_from(size).map_err(|_| LedgerError::Proof("size too large".into()))?;
    if n > entries.len() {
        return Err(LedgerError::Proof(format!(
            "tree size {size} exceeds the {} entries given",
            entries.len()
        )));
    }
    entries[..n]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            if e.seq != i as u64 + 1 {
                return Err(LedgerError::Proof(format!(
                    "entry {} has seq {}",
                    i + 1,
                    e.seq
                )));
            }
            let h = e
                .hash_bytes()
                .ok_or_else(|| LedgerError::Proof(format!("seq {}: malformed hash", e.seq)))?;
            Ok(merkle::leaf_hash(&h))
        })
        .collect()
}

/// (seq, size, checkpoint) of each seal, in ledger order.
fn seals(entries: &[Entry]) -> impl Iterator<Item = (u64, &str)> {
    entries
        .iter()
        .filter(|e| e.kind == KIND_SEALED)
        .filter_map(|e| {
            let size = e.body.get("size").and_then(Value::as_u64)?;
            let cp = e.body.get("checkpoint").and_then(Value::as_str)?;
            Some((size, cp))
        })
}

fn to_hex(path: &[Hash]) -> Vec<String> {
    path.iter().map(hex::encode).collect()
}

fn from_hex(path: &[String]) -> Result<Vec<Hash>> {
    path.iter()
        .map(|h| {
            crate::entry::decode_hash(h)
                .ok_or_else(|| LedgerError::Proof(format!("proof hash {h:?} is not 64 hex digits")))
        })
        .collect()
}

/// Proves entry `seq` is in the tree of the latest seal covering it.
pub fn prove(entries: &[Entry], seq: u64) -> Result<InclusionProof> {
    let sealed = seals(entries).map(|(s, _)| s).max().unwrap_or(0);
    let (size, checkpoint) = seals(entries)
        .filter(|(size, _)| *size >= seq)
        .last()
        .ok_or(LedgerError::NoSeal { seq, sealed })?;
    if seq == 0 {
        return Err(LedgerError::Proof("seq starts at 1".into()));
    }
    let leaves = leaves(entries, size)?;
    let path = merkle::inclusion_proof(&leaves, seq - 1)
        .ok_or_else(|| LedgerError::Proof(format!("seq {seq} is outside tree size {size}")))?;
    Ok(InclusionProof {
        seq,
        leaf_index: seq - 1,
        tree_size: size,
        entry_hash: entries[(seq - 1) as usize].hash.clone(),
        proof: to_hex(&path),
        checkpoint: checkpoint.to_string(),
    })
}

/// Checks a proof offline against a C2SP verifier key (`name+keyid+base64`): the checkpoint
/// signature, its size, and the audit path from the entry hash to its root.
pub fn check_proof(proof: &InclusionProof, verifier_key: &str) -> Result<()> {
    let (name, key) = parse_verifier_key(verifier_key)?;
    let cp = open_checkpoint(&proof.checkpoint, &name, &key)?;
    if cp.size != proof.tree_size {
        return Err(LedgerError::Proof(format!(
            "checkpoint is for size {}, proof claims {}",
            cp.size, proof.tree_size
        )));
    }
    if proof.seq == 0 || proof.leaf_index != proof.seq - 1 {
        return Err(LedgerError::Proof("leaf_index must be seq - 1".into()));
    }
    let data = crate::entry::decode_hash(&proof.entry_hash)
        .ok_or_else(|| LedgerError::Proof("entry_hash is not 64 hex digits".into()))?;
    let path = from_hex(&proof.proof)?;
    if !merkle::verify_inclusion(
        proof.leaf_index,
        proof.tree_size,
        &merkle::leaf_hash(&data),
        &path,
        &cp.root,
    ) {
        return Err(LedgerError::Proof(
            "audit path does not lead to the checkpoint root".into(),
        ));
    }
    Ok(())
}

/// Proves the tree of `old_size` entries is a prefix of the tree of `new_size`.
pub fn consistency(entries: &[Entry], old_size: u64, new_size: u64) -> Result<ConsistencyProof> {
    if old_size > new_size {
        return Err(LedgerError::Proof(
            "old size is larger than new size".into(),
        ));
    }
    let leaves = leaves(entries, new_size)?;
    let path = merkle::consistency_proof(&leaves, old_size)
        .ok_or_else(|| LedgerError::Proof("sizes out of range".into()))?;
    let cp_for = |size: u64| {
        seals(entries)
            .find(|(s, _)| *s == size)
            .map(|(_, cp)| cp.to_string())
    };
    Ok(ConsistencyProof {
        old_size,
        new_size,
        old_root: STANDARD.encode(merkle::root(&leaves[..old_size as usize])),
        new_root: STANDARD.encode(merkle::root(&leaves)),
        proof: to_hex(&path),
        old_checkpoint: cp_for(old_size),
        new_checkpoint: cp_for(new_size),
    })
}

fn decode_root(b64: &str) -> Result<Hash> {
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| LedgerError::Proof("root is not base64".into()))?;
    raw.as_slice()
        .try_into()
        .map_err(|_| LedgerError::Proof("root is not 32 bytes".into()))
}

/// Checks a consistency proof. With a verifier key, both checkpoints must be present,
/// signed, and agree with the proof's sizes and roots.
pub fn verify_consistency(proof: &ConsistencyProof, verifier_key: Option<&str>) -> Result<()> {
    let old_root = decode_root(&proof.old_root)?;
    let new_root = decode_root(&proof.new_root)?;
    if let Some(vkey) = verifier_key {
        let (name, key) = parse_verifier_key(vkey)?;
        for (cp, size, root) in [
            (&proof.old_checkpoint, proof.old_size, old_root),
            (&proof.new_checkpoint, proof.new_size, new_root),
        ] {
            let note = cp.as_deref().ok_or_else(|| {
                LedgerError::Proof(format!("no signed checkpoint for size {size}"))
            })?;
            let c = open_checkpoint(note, &name, &key)?;
            if c.size != size || c.root != root {
                return Err(LedgerError::Proof(format!(
                    "checkpoint for size {size} does not match the proof"
                )));
            }
        }
    }
    let path = from_hex(&proof.proof)?;
    if !merkle::verify_consistency(proof.old_size, proof.new_size, &old_root, &new_root, &path) {
        return Err(LedgerError::Proof(
            "consistency proof does not verify".into(),
        ));
    }
    Ok(())
}
