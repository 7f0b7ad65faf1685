//! Building signed entries on top of a chain: key checks, registry effects, seals.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::chain::Chain;
use crate::entry::{Actor, Entry, KIND_GENESIS, KIND_RECOVERED, KIND_SEALED};
use crate::error::{LedgerError, Result};
use crate::keys::{SYSTEM_ROLE, Signer};
use crate::note::sign_checkpoint;

pub(crate) fn check_kind(kind: &str) -> Result<()> {
    if let Some(problem) = crate::strict::kind_problem(kind) {
        return Err(LedgerError::InvalidEntry(problem));
    }
    if matches!(kind, KIND_GENESIS | KIND_SEALED | KIND_RECOVERED) {
        return Err(LedgerError::Registry(format!(
            "{kind} is written by the ledger itself (use Ledger::create / seal)"
        )));
    }
    Ok(())
}

/// Whether `signer`'s key may sign the next entry of `chain`.
pub(crate) fn can_sign(chain: &Chain, signer: &Signer) -> bool {
    let actor = Actor {
        role: signer.role().to_string(),
        id: signer.id().to_string(),
        key: signer.fingerprint(),
    };
    chain
        .registry
        .key_for(&actor, chain.seq + 1)
        .is_ok_and(|k| k == signer.verifying_key())
}

/// Chains one entry after checking the signer's key is valid at its seq; `sig` is left for
/// [`crate::sign::sign_batch`].
pub(crate) fn push_entry(
    chain: &mut Chain,
    signer: &Signer,
    kind: &str,
    body: Value,
    ts: &str,
) -> Result<Entry> {
    let seq = chain.seq + 1;
    let actor = Actor {
        role: signer.role().to_string(),
        id: signer.id().to_string(),
        key: signer.fingerprint(),
    };
    let unregistered = |reason: String| LedgerError::UnregisteredSigner {
        role: actor.role.clone(),
        id: actor.id.clone(),
        fingerprint: actor.key.clone(),
        seq,
        reason,
    };
    let key = chain.registry.key_for(&actor, seq).map_err(unregistered)?;
    if key != signer.verifying_key() {
        return Err(unregistered(
            "fingerprint collision with another key".into(),
        ));
    }
    let e = Entry::build_unsigned(seq, ts.to_string(), kind, signer, body, &chain.last_hash)?;
    chain.registry.apply(&e).map_err(LedgerError::Registry)?;
    let hash = e
        .hash_bytes()
        .ok_or_else(|| LedgerError::Registry("bad hash".into()))?;
    chain.push(&e, &hash);
    Ok(e)
}

pub(crate) fn seal_entry(
    chain: &mut Chain,
    system: &Signer,
    origin: &str,
    ts: &str,
) -> Result<Entry> {
    if system.role() != SYSTEM_ROLE {
        return Err(LedgerError::Key(
            "seals must be signed by the system key".into(),
        ));
    }
    let size = chain.frontier.size();
    if size != chain.seq {
        return Err(LedgerError::Registry(format!(
            "cannot seal: {size} leaves but last seq is {}; run `gantry ledger verify`",
            chain.seq
        )));
    }
    let root = chain.frontier.root();
    let checkpoint = sign_checkpoint(origin, size, &root, system.signing_key());
    let body = json!({"size": size, "root": STANDARD.encode(root), "checkpoint": checkpoint});
    push_entry(chain, system, KIND_SEALED, body, ts)
}
