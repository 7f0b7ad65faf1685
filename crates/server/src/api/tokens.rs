//! `GET /v1/tokens` (permission `manage_tokens`): the role tokens as `gantry token list`
//! shows them, never a value or hash.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::Api;
use crate::ServerError;

#[utoipa::path(get, path = "/v1/tokens", tag = "access",
    description = "The role tokens: name, role, created, expires, last used, status; never a value (permission `manage_tokens`).",
    responses((status = 200, description = "OK", body = Object), super::openapi::Errors))]
pub(crate) async fn list(State(api): State<Api>) -> Result<Json<Value>, ServerError> {
    let now = time::OffsetDateTime::now_utc();
    let tokens = api
        .access
        .store
        .list()
        .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
    Ok(Json(Value::Array(
        tokens
            .iter()
            .map(|t| {
                json!({"name": t.name, "role": t.role, "created": t.created, "expires": t.expires,
                    "revoked": t.revoked, "last_used": t.last_used, "status": t.status(now)})
            })
            .collect(),
    )))
}
