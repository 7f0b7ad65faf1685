//! `GET /v1/status` (the current report), `POST /v1/status/refresh` (a check round now)
//! and `GET /metrics` (OpenMetrics text).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;

use super::{Api, openapi};
use crate::ServerError;

#[utoipa::path(get, path = "/v1/status", tag = "status",
    description = "The status report: OPERATIONAL / DEGRADED / CRITICAL with its reasons (permission `read`).",
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn status(State(api): State<Api>) -> Result<Json<Value>, ServerError> {
    let m = &api.monitoring;
    let mut report = match m.report() {
        Some(r) => r,
        // The first round has not finished: take one now rather than answer nothing.
        None => m.refresh().await.ok_or_else(unavailable)?,
    };
    // Budget use moves with every call, not with check rounds: as of now.
    report.budgets = gantry_monitor::report::budget_uses(&m.budgets.report(&api.app).await);
    serde_json::to_value(report)
        .map(Json)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

#[utoipa::path(post, path = "/v1/status/refresh", tag = "status",
    description = "Run a check round now and answer its report (permission `read`).",
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn refresh(
    State(api): State<Api>,
    _: super::body::StrictOrEmpty<super::body::NoFields>,
) -> Result<Json<Value>, ServerError> {
    let m = &api.monitoring;
    let report = m.refresh().await.ok_or_else(unavailable)?;
    serde_json::to_value(report)
        .map(Json)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

#[utoipa::path(get, path = "/metrics", tag = "status",
    description = "Prometheus metrics in the OpenMetrics text format (permission `read`).",
    responses((status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"), openapi::Errors))]
pub(super) async fn metrics(State(api): State<Api>) -> impl IntoResponse {
    let m = &api.monitoring;
    (
        [(header::CONTENT_TYPE, gantry_monitor::metrics::CONTENT_TYPE)],
        m.encode_metrics(),
    )
}

fn unavailable() -> ServerError {
    ServerError::Unavailable {
        reason: "monitoring is not running".into(),
        retry_after: None,
    }
}
