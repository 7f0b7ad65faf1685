//! The HTTP API (loopback, bearer token). Every route requires the admin token; without it
//! the answer is 401.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gantry_deploy::Op;
use serde_json::{Value, json};

use crate::ServerError;
use crate::app::App;
use crate::ops::{DeployRequest, RollbackRequest};

#[derive(Clone)]
struct Api {
    app: Arc<App>,
    token: Arc<str>,
}

/// Compares without stopping at the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(api): State<Api>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if same(t.as_bytes(), api.token.as_bytes()) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "missing or wrong bearer token; the CLI reads it from .gantry/admin.token"})),
        )
            .into_response(),
    }
}

type Answer = Result<Json<Value>, ServerError>;

fn to_json(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

async fn ps(State(api): State<Api>) -> Answer {
    to_json(api.app.ps())
}

async fn deploy(
    State(api): State<Api>,
    Path(service): Path<String>,
    Json(req): Json<DeployRequest>,
) -> Answer {
    to_json(api.app.deploy(&service, req).await?)
}

async fn deployment(State(api): State<Api>, Path(id): Path<String>) -> Answer {
    to_json(api.app.deployment(&id)?)
}

async fn operate(State(api): State<Api>, Path((service, op)): Path<(String, String)>) -> Answer {
    let op = match op.as_str() {
        "promote" => Op::Promote,
        "pause" => Op::Pause,
        "resume" => Op::Resume,
        "abort" => Op::Abort,
        other => return Err(ServerError::NotFound(format!("no operation '{other}'"))),
    };
    to_json(api.app.operate(&service, op).await?)
}

#[derive(Debug, Default, serde::Deserialize)]
struct PromoteRequest {
    /// Skip every remaining step (`gantry promote --full`).
    #[serde(default)]
    full: bool,
}

async fn promote(
    State(api): State<Api>,
    Path(service): Path<String>,
    body: Option<Json<PromoteRequest>>,
) -> Answer {
    let full = body.is_some_and(|b| b.full);
    let op = if full { Op::PromoteFull } else { Op::Promote };
    to_json(api.app.operate(&service, op).await?)
}

async fn rollback(
    State(api): State<Api>,
    Path(service): Path<String>,
    Json(req): Json<RollbackRequest>,
) -> Answer {
    to_json(api.app.rollback(&service, req).await?)
}

async fn stop(State(api): State<Api>) -> Answer {
    to_json(api.app.emergency_stop().await?)
}

async fn start(State(api): State<Api>) -> Answer {
    to_json(api.app.start_after_stop().await?)
}

/// `gantry serve --stop`: answer first, then stop instances and exit.
async fn shutdown(State(api): State<Api>) -> Answer {
    api.app
        .stop_requested
        .store(true, std::sync::atomic::Ordering::Release);
    // A stored permit: the shutdown starts even if nothing waits on it yet.
    api.app.shutdown.notify_one();
    Ok(Json(json!({"stopping": true, "pid": std::process::id()})))
}

pub(crate) fn router(app: Arc<App>, token: String) -> Router {
    let api = Api {
        app,
        token: token.into(),
    };
    Router::new()
        .route("/v1/ps", get(ps))
        .route("/v1/services/{service}/deploy", post(deploy))
        .route("/v1/services/{service}/rollback", post(rollback))
        .route("/v1/services/{service}/promote", post(promote))
        .route("/v1/services/{service}/{op}", post(operate))
        .route("/v1/deployments/{id}", get(deployment))
        .route("/v1/control/emergency-stop", post(stop))
        .route("/v1/control/start", post(start))
        .route("/v1/control/shutdown", post(shutdown))
        .layer(middleware::from_fn_with_state(api.clone(), auth))
        .with_state(api)
}
