//! `GET /v1/whoami`: the role and permissions of the presented token, so a client (the
//! MCP server's `tools/list`) can offer only what the caller may do. It answers what the
//! auth middleware already decided; it never shows the token.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{Api, openapi};
use crate::{Caller, ServerError};

#[utoipa::path(get, path = "/v1/whoami", tag = "access",
    description = "The caller's role, token name and permissions (permission `read`).",
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn whoami(State(api): State<Api>) -> Result<Json<Value>, ServerError> {
    let caller = Caller::current()
        .ok_or_else(|| ServerError::BadRequest("no caller for this call".into()))?;
    let permissions: Vec<&str> = api
        .access
        .roles
        .permissions(&caller.role)
        .map(|p| p.iter().map(|p| p.name()).collect())
        .unwrap_or_default();
    Ok(Json(json!({
        "role": caller.role,
        "token": caller.token,
        "permissions": permissions,
    })))
}
