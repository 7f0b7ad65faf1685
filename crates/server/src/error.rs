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
    /// The version has not passed (or soaked in) the environment before (409).
    #[error("{0}")]
    NotPromoted(String),
    /// The environment's policy vetoes the deploy (409), one located line per violation.
    #[error("{0}")]
    PolicyRefused(String),
    /// The caller's role lacks a permission the request needs beyond its route's (403).
    #[error("{0}")]
    Forbidden(String),
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

/// The stable error codes of the API (and of MCP refusals): clients branch on these, never
/// on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Unavailable,
    Refused,
    Internal,
    PolicyRefused,
    /// A budget of the caller's role is spent (429, with `Retry-After`).
    BudgetExceeded,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Refused => "refused",
            ErrorCode::Internal => "internal",
            ErrorCode::PolicyRefused => "policy_refused",
            ErrorCode::BudgetExceeded => "budget_exceeded",
        }
    }
}

/// Every API error, as `{"error": {"code", "message", "hint"}}` with its HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub hint: String,
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` for 401s.
    pub challenge: Option<&'static str>,
    /// Fields beside `code`, `message` and `hint` (a budget refusal's figures).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: ErrorCode,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: hint.into(),
            retry_after: None,
            challenge: None,
            extra: serde_json::Map::new(),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        let mut error =
            json!({"code": self.code.as_str(), "message": self.message, "hint": self.hint});
        if let Some(fields) = error.as_object_mut() {
            for (k, v) in &self.extra {
                fields.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        json!({ "error": error })
    }
}

impl From<&ServerError> for ApiError {
    fn from(e: &ServerError) -> ApiError {
        let (status, code, hint) = match e {
            ServerError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "GET /v1/openapi.json lists the routes; `gantry ps` the services",
            ),
            ServerError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "fix the request as the message says; GET /v1/openapi.json has every schema",
            ),
            ServerError::Conflict(_) => (
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "`gantry ps` shows what is in progress; wait for it or end it first",
            ),
            ServerError::NotPromoted(_) => (
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "`gantry ps --env E` shows the version each environment runs",
            ),
            ServerError::PolicyRefused(_) => (
                StatusCode::CONFLICT,
                ErrorCode::PolicyRefused,
                "`gantry policy check` prints the same lines; fix them, or override with a reason",
            ),
            ServerError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "ask a role that holds the permission (admin does)",
            ),
            ServerError::Unavailable {
                retry_after: Some(_),
                ..
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "retry after the Retry-After seconds",
            ),
            ServerError::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "restart `gantry serve` with a writable ledger",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "see the control plane's log (.gantry/serve.log with --detach)",
            ),
        };
        let mut out = ApiError::new(status, code, e.to_string(), hint);
        if let ServerError::Unavailable { retry_after, .. } = e {
            out.retry_after = *retry_after;
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(self.body());
        let mut resp = (self.status, body).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = secs.to_string().parse()
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        if let Some(c) = self.challenge {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(c),
            );
        }
        resp
    }
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        ApiError::from(&self).into_response()
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

    #[test]
    fn every_error_has_a_stable_code_message_and_hint() {
        let e = ApiError::from(&ServerError::Conflict("busy".into()));
        assert_eq!(e.status, StatusCode::CONFLICT);
        assert_eq!(e.body()["error"]["code"], "conflict");
        assert_eq!(e.body()["error"]["message"], "busy");
        assert!(!e.body()["error"]["hint"].as_str().unwrap().is_empty());
        let e = ApiError::from(&ServerError::Io(std::io::Error::other("disk")));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
        );
    }
}
