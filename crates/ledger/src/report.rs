//! What `verify` reports: the checks, the first failure, and the summary.

use std::fmt;

use serde::Serialize;

/// Which check failed, in the order they are applied to each line.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Parse,
    Seq,
    Prev,
    Hash,
    Genesis,
    Key,
    Signature,
    Seal,
    /// `verify --against`: the ledger does not contain and extend the given checkpoint.
    Checkpoint,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Parse => "parse",
            Check::Seq => "seq",
            Check::Prev => "prev",
            Check::Hash => "hash",
            Check::Genesis => "genesis",
            Check::Key => "key",
            Check::Signature => "signature",
            Check::Seal => "seal",
            Check::Checkpoint => "checkpoint",
        })
    }
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct VerifyFailure {
    pub seq: Option<u64>,
    /// 1-based line number.
    pub line: u64,
    pub check: Check,
    pub message: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(
                f,
                "line {} (seq {seq}): {}: {}",
                self.line, self.check, self.message
            ),
            None => write!(f, "line {}: {}: {}", self.line, self.check, self.message),
        }
    }
}

/// What `verify` found. With a failure, the counts and `last_hash` describe only the
/// entries before it, the part that verified.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries that passed every check.
    pub entries: u64,
    /// Seals among those entries.
    pub seals: u64,
    /// Hash of the last entry that passed (64 zeros if none did).
    pub last_hash: String,
    /// Unterminated bytes at the end (a torn write, recovered by the next append).
    pub torn_tail_bytes: u64,
    /// The checkpoint given to `verify --against`, when the ledger contains and extends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchored: Option<Anchored>,
    pub failure: Option<VerifyFailure>,
}

/// A signed checkpoint the ledger was verified against.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Anchored {
    pub size: u64,
    /// Base64 root, as in the checkpoint.
    pub root: String,
    /// Fingerprint of the system key that signed it.
    pub signed_by: String,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }
}
