//! Errors of the control plane and how the API reports them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The request names something that does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or names an invalid value (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The control plane cannot take mutating calls now (503): it is still restoring after
    /// a restart (`retry_after` seconds), or it can no longer write its ledger (no retry).
    #[error("{reason}")]
    Unavailable {
        reason: String,
        retry_after: Option<u64>,
    },
    /// Another `gantry serve` holds the project's lock; nothing was read or written.
    #[error(
        "another `gantry serve` is running for this project ({holder}; it holds {}); \
         use it, or stop it first with `gantry serve --stop`",
        lock.display()
    )]
    AlreadyServing {
        lock: std::path::PathBuf,
        holder: crate::lock::Holder,
    },
    #[error("cannot take the control-plane lock {}: {source}", path.display())]
    Lock {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The API token would be guessable or unusable; `from` names where it came from.
    #[error("the API token from {from} {why}")]
    WeakToken { from: String, why: String },
    #[error("cannot bind the API on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("ledger: {0}")]
    Ledger(#[from] gantry_ledger::LedgerError),
    #[error("driver: {0}")]
    Driver(#[from] gantry_deploy::DriverError),
    #[error("monitoring: {0}")]
    Monitor(#[from] gantry_monitor::MonitorError),
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        if let ServerError::Unavailable {
            retry_after: Some(secs),
            ..
        } = &self
        {
            let secs = secs.to_string();
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(axum::http::header::RETRY_AFTER, secs)],
                Json(json!({ "error": self.to_string() })),
            )
                .into_response();
        }
        let status = match &self {
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_answers_503_with_retry_after_only_when_it_may_pass() {
        let restoring = ServerError::Unavailable {
            reason: "restoring".into(),
            retry_after: Some(1),
        }
        .into_response();
        assert_eq!(restoring.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            restoring.headers().get(axum::http::header::RETRY_AFTER),
            Some(&axum::http::HeaderValue::from_static("1"))
        );
        let no_ledger = ServerError::Unavailable {
            reason: "ledger".into(),
            retry_after: None,
        }
        .into_response();
        assert_eq!(no_ledger.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            no_ledger
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .is_none()
        );
    }
}
