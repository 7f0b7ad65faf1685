//! What can go wrong before the gate can judge anything.

/// Why a plan could not be gated.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The plan is not JSON, or a field has the wrong type.
    #[error("{file}:{line}:{column}: not a deployment plan: {message}")]
    Plan {
        /// The plan file (`-` for stdin).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json found wrong.
        message: String,
    },
    /// A plan cannot be made: the service or environment is unknown.
    #[error("{0}")]
    Unplannable(String),
}
