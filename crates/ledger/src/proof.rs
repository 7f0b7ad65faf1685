//! Inclusion and consistency proofs over a ledger's entries, anchored in seal checkpoints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{Entry, KIND_SEALED};
use crate::error::{LedgerError, Result};
use crate::merkle::{self, Hash};
use crate::note::{Checkpoint, open_checkpoint, parse_checkpoint_unverified, parse_verifier_key};

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
    if old_size == 0 {
        return Err(LedgerError::Proof(EMPTY_OLD.into()));
    }
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

const EMPTY_OLD: &str = "old size 0 is the empty tree, which every tree extends: \
     there is nothing to prove; use a size of 1 or more";

/// Checks a consistency proof. With a verifier key, both checkpoints must be present,
/// signed, and agree with the proof's sizes and roots. Without one, only the arithmetic is
/// checked: roots that come with the proof prove nothing about a ledger.
pub fn verify_consistency(proof: &ConsistencyProof, verifier_key: Option<&str>) -> Result<()> {
    if proof.old_size == 0 {
        return Err(LedgerError::Proof(EMPTY_OLD.into()));
    }
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

/// Checks offline that the signed checkpoint `new_note` extends the signed checkpoint
/// `old_note`, using `proof` (as `gantry ledger consistency` writes it). Sizes and roots are
/// taken from the checkpoints, and each checkpoint must be signed by one of
/// `verifier_keys` (a log whose key was rotated between them needs both keys). Returns the
/// two checkpoints.
pub fn check_consistency(
    old_note: &str,
    new_note: &str,
    proof: &ConsistencyProof,
    verifier_keys: &[String],
) -> Result<(Checkpoint, Checkpoint)> {
    let keys = verifier_keys
        .iter()
        .map(|k| parse_verifier_key(k))
        .collect::<Result<Vec<_>>>()?;
    let open = |which: &str, note: &str| -> Result<Checkpoint> {
        let unverified = parse_checkpoint_unverified(note)
            .map_err(|e| LedgerError::Proof(format!("{which} checkpoint: {e}")))?;
        keys.iter()
            .filter(|(name, _)| *name == unverified.origin)
            .find_map(|(name, key)| open_checkpoint(note, name, key).ok())
            .ok_or_else(|| {
                LedgerError::Proof(format!(
                    "{which} checkpoint (log {:?}, size {}) is not signed by any given key",
                    unverified.origin, unverified.size
                ))
            })
    };
    let old = open("old", old_note)?;
    let new = open("new", new_note)?;
    if old.origin != new.origin {
        return Err(LedgerError::Proof(format!(
            "the checkpoints are of different logs ({:?} and {:?})",
            old.origin, new.origin
        )));
    }
    if (proof.old_size, proof.new_size) != (old.size, new.size) {
        return Err(LedgerError::Proof(format!(
            "the proof is for sizes {} -> {}, the checkpoints are for {} -> {}",
            proof.old_size, proof.new_size, old.size, new.size
        )));
    }
    if old.size == 0 {
        return Err(LedgerError::Proof(EMPTY_OLD.into()));
    }
    if decode_root(&proof.old_root)? != old.root || decode_root(&proof.new_root)? != new.root {
        return Err(LedgerError::Proof(
            "the proof's roots differ from the checkpoints' (a proof for another ledger?)".into(),
        ));
    }
    let path = from_hex(&proof.proof)?;
    if !merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &path) {
        return Err(LedgerError::Proof(format!(
            "the proof does not show that the tree of size {} extends the tree of size {}",
            new.size, old.size
        )));
    }
    Ok((old, new))
}
