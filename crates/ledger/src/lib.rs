//! gantry's evidence ledger: an append-only JSON Lines file of hash-chained, Ed25519-signed
//! entries with periodic RFC 6962 Merkle seals as C2SP checkpoints. See FORMAT.md.

mod chain;
mod compose;
pub mod durable;
mod entry;
mod error;
pub mod intoto;
mod keys;
mod ledger;
pub mod merkle;
pub mod note;
mod proof;
mod read;
mod registry;
mod report;
mod tail;
mod verify;
mod writer;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use entry::{
    Actor, Entry, FORMAT, KIND_GENESIS, KIND_RECOVERED, KIND_REGISTERED, KIND_ROTATED, KIND_SEALED,
    NewEntry, SIG_CONTEXT, ZERO_HASH, decode_hash, now_ts, signing_message,
};
pub use error::{LedgerError, Result};
pub use keys::{
    SYSTEM_ID, SYSTEM_ROLE, Signer, fingerprint, generate_key, key_from_pem, key_to_pem,
    public_key_from_base64, public_key_to_base64,
};
pub use ledger::{Ledger, LedgerOptions};
pub use note::note_verifier_key;
pub use proof::{
    ConsistencyProof, InclusionProof, check_proof, consistency, prove, verify_consistency,
};
pub use read::{ReadOutcome, read_entries};
pub use registry::{genesis_body, registered_body, rotated_body};
pub use report::{Check, VerifyFailure, VerifyReport};
pub use verify::{verify, verify_reader};
pub use writer::GroupCommitter;
