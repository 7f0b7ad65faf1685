//! Who a ledger says it is: the origin its genesis fixed and every system key it has had.
//! Checkpoints name the log by that origin and are signed by those keys, whatever
//! gantry.yaml says today.

use ed25519_dalek::VerifyingKey;

use crate::entry::{Entry, KIND_GENESIS, KIND_REGISTERED, KIND_ROTATED};
use crate::error::{LedgerError, Result};
use crate::keys::fingerprint;
use crate::note::{Checkpoint, note_verifier_key, open_checkpoint, parse_checkpoint_unverified};
use crate::registry::Registry;

#[derive(Clone, Debug)]
pub struct SystemKey {
    pub key: VerifyingKey,
    pub fingerprint: String,
    /// First seq the key may sign.
    pub from_seq: u64,
    /// Last seq it may sign, once rotated out.
    pub until_seq: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Identity {
    pub origin: String,
    /// Oldest first; the last one is current.
    pub system_keys: Vec<SystemKey>,
}

impl Identity {
    /// Reads the registry entries of `entries` (valid ones; `verify` reports the others).
    pub fn from_entries(entries: &[Entry]) -> Result<Identity> {
        let mut registry = Registry::new();
        for e in entries {
            if matches!(
                e.kind.as_str(),
                KIND_GENESIS | KIND_REGISTERED | KIND_ROTATED
            ) {
                let _ = registry.apply(e);
            }
        }
        let origin = registry.origin.clone().ok_or_else(|| {
            LedgerError::Registry("the ledger has no valid ledger.genesis entry".into())
        })?;
        let system_keys = registry
            .system_keys()
            .into_iter()
            .map(|k| SystemKey {
                key: k.key,
                fingerprint: fingerprint(&k.key),
                from_seq: k.from_seq,
                until_seq: k.until_seq,
            })
            .collect();
        Ok(Identity {
            origin,
            system_keys,
        })
    }

    /// The system key that signs now.
    pub fn current(&self) -> Option<&SystemKey> {
        self.system_keys
            .iter()
            .rev()
            .find(|k| k.until_seq.is_none())
    }

    /// The C2SP verifier key of a system key, under this ledger's origin.
    pub fn verifier_key(&self, key: &SystemKey) -> String {
        note_verifier_key(&self.origin, &key.key)
    }

    /// Opens a checkpoint of this log signed by any of its system keys.
    pub fn open_checkpoint(&self, note: &str) -> Result<(Checkpoint, &SystemKey)> {
        let cp = parse_checkpoint_unverified(note)?;
        if cp.origin != self.origin {
            return Err(LedgerError::Note(format!(
                "the checkpoint is for log {:?}, this ledger is {:?}",
                cp.origin, self.origin
            )));
        }
        self.system_keys
            .iter()
            .rev()
            .find_map(|k| {
                open_checkpoint(note, &self.origin, &k.key)
                    .ok()
                    .map(|c| (c, k))
            })
            .ok_or_else(|| {
                LedgerError::Note(
                    "the checkpoint is not signed by any system key this ledger has had".into(),
                )
            })
    }
}
