//! The HTTP API (loopback, bearer token). Every route requires the admin token; without it
//! the answer is 401 ([`auth`]). Request bodies are strict JSON ([`body`]): an unknown
//! field, bad JSON or another content type is a 400, never ignored.

pub(crate) mod auth;
mod body;
mod tokens;
mod status;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use gantry_deploy::Op;
use serde_json::{Value, json};

use crate::ServerError;
use crate::app::App;
use crate::ops::{DeployRequest, RollbackRequest};
use auth::{Access, Token};
use body::{NoFields, Strict, StrictOrEmpty};

#[derive(Clone)]
pub(crate) struct Api {
    app: Arc<App>,
    access: Arc<Access>,
}

type Answer = Result<Json<Value>, ServerError>;

fn to_json(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

async fn ps(State(api): State<Api>) -> Answer {
    let mut view = to_json(api.app.ps())?;
    view["api"] = json!({"refused": api.access.refused.view()});
    Ok(view)
}

async fn deploy(
    State(api): State<Api>,
    Path(service): Path<String>,
    Strict(req): Strict<DeployRequest>,
) -> Answer {
    to_json(api.app.deploy(&service, req).await?)
}

async fn deployment(State(api): State<Api>, Path(id): Path<String>) -> Answer {
    to_json(api.app.deployment(&id)?)
}

async fn operate(
    State(api): State<Api>,
    Path((service, op)): Path<(String, String)>,
    _: StrictOrEmpty<NoFields>,
) -> Answer {
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
#[serde(deny_unknown_fields)]
struct PromoteRequest {
    /// Skip every remaining step (`gantry promote --full`).
    #[serde(default)]
    full: bool,
}

async fn promote(
    State(api): State<Api>,
    Path(service): Path<String>,
    StrictOrEmpty(req): StrictOrEmpty<PromoteRequest>,
) -> Answer {
    let op = if req.full {
        Op::PromoteFull
    } else {
        Op::Promote
    };
    to_json(api.app.operate(&service, op).await?)
}

async fn rollback(
    State(api): State<Api>,
    Path(service): Path<String>,
    Strict(req): Strict<RollbackRequest>,
) -> Answer {
    to_json(api.app.rollback(&service, req).await?)
}

async fn stop(State(api): State<Api>, _: StrictOrEmpty<NoFields>) -> Answer {
    to_json(api.app.emergency_stop().await?)
}

async fn start(State(api): State<Api>, _: StrictOrEmpty<NoFields>) -> Answer {
    to_json(api.app.start_after_stop().await?)
}

/// `gantry serve --stop`: answer first, then stop instances and exit.
async fn shutdown(State(api): State<Api>, _: StrictOrEmpty<NoFields>) -> Answer {
    api.app
        .stop_requested
        .store(true, std::sync::atomic::Ordering::Release);
    // A stored permit: the shutdown starts even if nothing waits on it yet.
    api.app.shutdown.notify_one();
    Ok(Json(json!({"stopping": true, "pid": std::process::id()})))
}

/// Anything the routes do not know, in JSON like every other answer (after the token check,
/// so unauthenticated callers learn nothing about the routes).
async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> ServerError {
    ServerError::NotFound(format!("no API route {method} {}", uri.path()))
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> impl IntoResponse {
    crate::error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        crate::error::ErrorCode::BadRequest,
        format!("{} does not take {method}", uri.path()),
        "GET /v1/openapi.json lists each route's methods",
    )
}

pub(crate) fn router(
    app: Arc<App>,
    token: Token,
    store: gantry_access::TokenStore,
    monitoring: Arc<crate::monitoring::Monitoring>,
) -> Router {
    let roles = app.core.config.access.roles();
    let api = Api {
        app,
        access: Arc::new(Access::new(token, roles, store)),
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
        .route("/v1/tokens", get(tokens::list))
        .merge(status::routes(monitoring))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            api.clone(),
            auth::require_token,
        ))
        .with_state(api)
}
