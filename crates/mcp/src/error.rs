use std::path::PathBuf;

/// What keeps the MCP server from starting.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("cannot build the HTTP client for the control plane at {base}: {source}")]
    Client {
        base: String,
        source: reqwest::Error,
    },
    #[error("the MCP session on stdio failed: {0}")]
    Session(String),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}
