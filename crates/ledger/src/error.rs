use std::path::PathBuf;

/// Everything the ledger library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger not found: {0}")]
    NotFound(PathBuf),
    #[error("ledger {0} already exists and is not empty")]
    AlreadyExists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid ledger line: {0}")]
    InvalidLine(String),
    /// An entry a writer refuses to build (nothing was written).
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
    #[error("ledger {path} is corrupt at line {line}: {message}")]
    Corrupt {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("key error: {0}")]
    Key(String),
    #[error("signer {role}/{id} ({fingerprint}) has no key valid at seq {seq}: {reason}")]
    UnregisteredSigner {
        role: String,
        id: String,
        fingerprint: String,
        seq: u64,
        reason: String,
    },
    #[error("invalid registry entry: {0}")]
    Registry(String),
    #[error(
        "no seal covers seq {seq} (latest sealed size {sealed}): run `gantry ledger seal` first"
    )]
    NoSeal { seq: u64, sealed: u64 },
    #[error("proof error: {0}")]
    Proof(String),
    #[error("signed note error: {0}")]
    Note(String),
    #[error("DSSE envelope error: {0}")]
    Envelope(String),
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    #[error("group committer has stopped")]
    CommitterStopped,
    #[error("group commit failed: {0}")]
    GroupCommit(String),
}

pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}
