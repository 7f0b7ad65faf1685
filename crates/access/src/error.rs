use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("unknown role '{role}'; roles: {known}")]
    UnknownRole { role: String, known: String },
    #[error("a token named '{0}' exists already; revoke it or choose another --name")]
    NameTaken(String),
    #[error("no token named '{name}'; tokens: {known}")]
    NoSuchToken { name: String, known: String },
    #[error("token '{0}' is revoked already")]
    AlreadyRevoked(String),
    #[error("token name '{0}' is not valid: use 1-64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a valid token store: {source}; fix or remove it (every token in it stops working)", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot read random bytes for a token: {0}")]
    Random(std::io::Error),
}
