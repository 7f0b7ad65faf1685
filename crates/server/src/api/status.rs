//! `GET /v1/status` (the current report), `POST /v1/status/refresh` (a check round now)
//! and `GET /metrics` (OpenMetrics text).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;

use crate::ServerError;
use crate::monitoring::Monitoring;

async fn status(State(m): State<Arc<Monitoring>>) -> Result<Json<Value>, ServerError> {
    let report = match m.report() {
        Some(r) => r,
        // The first round has not finished: take one now rather than answer nothing.
        None => m.refresh().await.ok_or_else(unavailable)?,
    };
    serde_json::to_value(report)
        .map(Json)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

async fn refresh(
    State(m): State<Arc<Monitoring>>,
    _: super::body::StrictOrEmpty<super::body::NoFields>,
) -> Result<Json<Value>, ServerError> {
    let report = m.refresh().await.ok_or_else(unavailable)?;
    serde_json::to_value(report)
        .map(Json)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

async fn metrics(State(m): State<Arc<Monitoring>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, gantry_monitor::metrics::CONTENT_TYPE)],
        m.metrics.encode(),
    )
}

/// The routes, for any router state (they carry their own).
pub(crate) fn routes<S>(m: Arc<Monitoring>) -> axum::Router<S> {
    axum::Router::new()
        .route("/v1/status", get(status))
        .route("/v1/status/refresh", post(refresh))
        .route("/metrics", get(metrics))
        .with_state(m)
}

fn unavailable() -> ServerError {
    ServerError::Unavailable {
        reason: "monitoring is not running".into(),
        retry_after: None,
    }
}
