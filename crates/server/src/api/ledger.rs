//! `GET /v1/ledger` (entries, filtered by kind prefix, the last N) and
//! `POST /v1/ledger/verify` (the strict verification `gantry ledger verify` runs), for
//! agents that reach gantry only over the API or MCP.

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::body::{NoFields, StrictOrEmpty};
use super::{Api, openapi};
use crate::ServerError;

/// At most this many entries in one answer: an agent asks for the recent ones.
pub(crate) const MAX_ENTRIES: usize = 1000;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LedgerQuery {
    /// Only kinds starting with this prefix (e.g. `deployment.`).
    kind: Option<String>,
    /// Only entries whose actor has this role.
    role: Option<String>,
    /// The last N matching entries (default 50, at most 1000).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/ledger", tag = "ledger",
    description = "The last ledger entries, by kind prefix and role (permission `read`).",
    params(LedgerQuery),
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn show(
    State(api): State<Api>,
    q: Result<Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ServerError> {
    // A bad query string is a JSON 400 like every other bad input, not axum's plain text.
    let Query(q) =
        q.map_err(|e| ServerError::BadRequest(format!("query string: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(50).min(MAX_ENTRIES);
    let path = api.ledger.to_path_buf();
    let (total, entries) = tokio::task::spawn_blocking(move || {
        let kind = q.kind.unwrap_or_default();
        let read = gantry_ledger::read_entries_where(&path, |e| {
            e.kind.starts_with(&kind) && q.role.as_ref().is_none_or(|r| *r == e.actor.role)
        })?;
        let total = read.entries.len();
        let skip = total.saturating_sub(limit);
        Ok::<_, gantry_ledger::LedgerError>((
            total,
            read.entries.into_iter().skip(skip).collect::<Vec<_>>(),
        ))
    })
    .await
    .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))??;
    Ok(Json(json!({"matching": total, "entries": entries})))
}

#[utoipa::path(post, path = "/v1/ledger/verify", tag = "ledger",
    description = "Verify the whole ledger: chain, hashes, signatures, keys, seals (permission `verify_ledger`).",
    request_body(content = Option<NoFields>, description = "None, or {}"),
    responses((status = 200, description = "The report; `ok` false names the first bad entry", body = Object), openapi::Errors))]
pub(super) async fn verify(
    State(api): State<Api>,
    _: StrictOrEmpty<NoFields>,
) -> Result<Json<Value>, ServerError> {
    let path = api.ledger.to_path_buf();
    let report = tokio::task::spawn_blocking(move || gantry_ledger::verify(&path))
        .await
        .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))??;
    let mut out =
        serde_json::to_value(&report).map_err(|e| ServerError::BadRequest(e.to_string()))?;
    out["ok"] = json!(report.is_ok());
    Ok(Json(out))
}
