//! gantry's evidence ledger: an append-only JSON Lines file of hash-chained, Ed25519-signed
//! entries with periodic RFC 6962 Merkle seals as C2SP checkpoints. See FORMAT.md.

mod canon;
mod chain;
mod comb;
mod compose;
pub mod durable;
mod entry;
mod error;
mod follow;
mod identity;
pub mod intoto;
mod keys;
mod ledger;
pub mod links;
pub mod merkle;
pub mod note;
mod proof;
mod read;
mod registry;
mod report;
mod sig;
mod sig_checker;
mod sign;
mod strict;
mod tail;
mod verify;
mod writer;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use entry::{
    Actor, Entry, FORMAT, KIND_GENESIS, KIND_RECOVERED, KIND_REGISTERED, KIND_ROTATED, KIND_SEALED,
    NewEntry, SIG_CONTEXT, ZERO_HASH, decode_hash, now_ts, signing_message,
};
pub use error::{LedgerError, Result};
pub use follow::{Follower, mentions};
pub use identity::{Identity, SystemKey};
pub use keys::{
    SYSTEM_ID, SYSTEM_ROLE, Signer, fingerprint, generate_key, key_from_pem, key_to_pem,
    public_key_from_base64, public_key_to_base64,
};
pub use ledger::{Ledger, LedgerOptions};
pub use note::{Checkpoint, note_verifier_key};
pub use proof::{
    ConsistencyProof, InclusionProof, check_consistency, check_proof, consistency, prove,
    verify_consistency,
};
pub use read::{ReadOutcome, read_entries, read_entries_where, read_registry};
pub use registry::{genesis_body, registered_body, rotated_body};
pub use report::{Anchored, Check, VerifyFailure, VerifyReport};
pub use sig::{SMALL_ORDER_ENCODINGS, verify_entry_sig};
pub use strict::{MAX_SAFE_INTEGER, body_problem, kind_problem, ts_problem};
pub use verify::{verify, verify_against, verify_reader};
pub use writer::GroupCommitter;
