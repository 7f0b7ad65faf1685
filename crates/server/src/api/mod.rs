//! The HTTP API (loopback, bearer token). Every route requires a token whose role holds
//! the route's permission ([`auth`]). Request bodies are strict JSON ([`body`]): an unknown
//! field, bad JSON or another content type is a 400, never ignored. Each handler carries
//! its OpenAPI description ([`openapi`]); the router collects both, so they cannot drift.

pub(crate) mod auth;
mod body;
mod budget;
mod decisions;
mod events;
mod ledger;
pub(crate) mod openapi;
mod reload;
mod runs;
mod status;
mod tokens;
mod whoami;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;
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
    /// The OpenAPI document, set once the router that it describes is built.
    doc: Arc<std::sync::OnceLock<Value>>,
    /// `.gantry/ledger.jsonl`, which `GET /v1/events` follows.
    ledger: Arc<std::path::Path>,
    /// Check rounds and the status report (`/v1/status`, `/metrics`).
    monitoring: Arc<crate::monitoring::Monitoring>,
    /// gantry.yaml, which `POST /v1/control/reload` reads again.
    config_path: Arc<std::path::Path>,
    /// What each budgeted role used today, checked before every charged call.
    budgets: Arc<crate::budgets::Budgets>,
    /// Pipeline runs started over the API, and the role keys checkpoints are signed with.
    pipelines: Arc<crate::runs::Pipelines>,
}

type Answer = Result<Json<Value>, ServerError>;

fn to_json(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ServerError::BadRequest(e.to_string()))
}

#[utoipa::path(get, path = "/v1/ps", tag = "status", description = "Services, instances, versions, weights, health (permission `read`).",
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
async fn ps(State(api): State<Api>) -> Answer {
    let mut view = to_json(api.app.ps())?;
    view["api"] = json!({"refused": api.access.refused.view()});
    Ok(view)
}

#[utoipa::path(post, path = "/v1/services/{service}/deploy", tag = "deployments", description = "Start a deployment of a release (permission `deploy`).",
    params(("service" = String, Path, description = "A service of gantry.yaml")),
    request_body = DeployRequest,
    responses((status = 200, description = "OK", body = Object), openapi::Errors, openapi::OverBudget))]
async fn deploy(
    State(api): State<Api>,
    Path(service): Path<String>,
    Strict(req): Strict<DeployRequest>,
) -> Answer {
    to_json(api.app.deploy(&service, req).await?)
}

#[utoipa::path(get, path = "/v1/deployments/{id}", tag = "deployments", description = "A deployment's status and timeline, also from before the last start (permission `read`).",
    params(("id" = String, Path, description = "A deployment id, e.g. web-3")),
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
async fn deployment(State(api): State<Api>, Path(id): Path<String>) -> Answer {
    to_json(api.app.deployment(&id)?)
}

#[utoipa::path(post, path = "/v1/services/{service}/{op}", tag = "deployments", description = "Pause, resume or abort the running deployment (permission: the operation's name).",
    params(("service" = String, Path, description = "A service of gantry.yaml"),
        ("op" = openapi::OpName, Path, description = "pause, resume or abort")),
    request_body(content = Option<NoFields>, description = "None, or {}"),
    responses((status = 200, description = "OK", body = Object), openapi::Errors, openapi::OverBudget))]
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

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromoteRequest {
    /// Skip every remaining step (`gantry promote --full`).
    #[serde(default)]
    full: bool,
}

#[utoipa::path(post, path = "/v1/services/{service}/promote", tag = "deployments", description = "End the current pause, or skip every remaining step with full (permission `promote`).",
    params(("service" = String, Path, description = "A service of gantry.yaml")),
    request_body(content = Option<PromoteRequest>, description = "None, {} or {\"full\": true}"),
    responses((status = 200, description = "OK", body = Object), openapi::Errors, openapi::OverBudget))]
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

#[utoipa::path(post, path = "/v1/services/{service}/rollback", tag = "deployments", description = "Return to the previous or a named version; dry_run plans only (permission `rollback`).",
    params(("service" = String, Path, description = "A service of gantry.yaml")),
    request_body = RollbackRequest,
    responses((status = 200, description = "OK", body = Object), openapi::Errors, openapi::OverBudget))]
async fn rollback(
    State(api): State<Api>,
    Path(service): Path<String>,
    Strict(req): Strict<RollbackRequest>,
) -> Answer {
    to_json(api.app.rollback(&service, req).await?)
}

#[utoipa::path(post, path = "/v1/control/emergency-stop", tag = "control", description = "Emergency stop: every service answers 503, instances stop (permission `emergency_stop`).",
    request_body(content = Option<NoFields>, description = "None, or {}"),
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
async fn stop(State(api): State<Api>, _: StrictOrEmpty<NoFields>) -> Answer {
    to_json(api.app.emergency_stop().await?)
}

#[utoipa::path(post, path = "/v1/control/start", tag = "control", description = "End an emergency stop (permission `start`).",
    request_body(content = Option<NoFields>, description = "None, or {}"),
    responses((status = 200, description = "OK", body = Object), openapi::Errors, openapi::OverBudget))]
async fn start(State(api): State<Api>, _: StrictOrEmpty<NoFields>) -> Answer {
    to_json(api.app.start_after_stop().await?)
}

#[utoipa::path(post, path = "/v1/control/shutdown", tag = "control", description = "Stop the control plane gracefully (permission `shutdown`).",
    request_body(content = Option<NoFields>, description = "None, or {}"),
    responses((status = 200, description = "OK", body = Object), openapi::Errors, openapi::OverBudget))]
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
/// A session ended with `DELETE /mcp` is answered 204: rmcp answers 202, which the
/// official Python SDK reports as "Session termination failed: 202" (it takes 200 or 204;
/// the deletion is done, not merely accepted).
async fn mcp_session_end(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let delete = request.method() == axum::http::Method::DELETE;
    let mut response = next.run(request).await;
    if delete && response.status() == axum::http::StatusCode::ACCEPTED {
        *response.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    response
}

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

#[utoipa::path(get, path = "/v1/openapi.json", tag = "status",
    description = "This document (permission `read`).",
    responses((status = 200, description = "OpenAPI 3.1", body = Object), openapi::Errors))]
async fn openapi_json(State(api): State<Api>) -> Json<Value> {
    Json(api.doc.get().cloned().unwrap_or(Value::Null))
}

/// The API's routes with their OpenAPI descriptions, before state and middleware.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<Api> {
    use utoipa::OpenApi as _;
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ps))
        .routes(routes!(deploy))
        .routes(routes!(rollback))
        .routes(routes!(promote))
        .routes(routes!(decisions::approve_deployment))
        .routes(routes!(operate))
        .routes(routes!(deployment))
        .routes(routes!(stop))
        .routes(routes!(start))
        .routes(routes!(shutdown))
        .routes(routes!(reload::reload))
        .routes(routes!(tokens::list))
        .routes(routes!(openapi_json))
        .routes(routes!(events::events))
        .routes(routes!(status::status))
        .routes(routes!(status::refresh))
        .routes(routes!(status::metrics))
        .routes(routes!(whoami::whoami))
        .routes(routes!(ledger::show))
        .routes(routes!(ledger::verify))
        .routes(routes!(budget::usage))
        .routes(routes!(runs::start))
        .routes(routes!(runs::list))
        .routes(routes!(runs::show))
        .routes(routes!(runs::logs))
        .routes(routes!(runs::step_logs))
        .routes(routes!(runs::sign))
        .routes(routes!(runs::veto))
        .routes(routes!(decisions::list))
        .routes(routes!(decisions::veto))
        .routes(routes!(decisions::approve))
}

pub(crate) fn router(
    app: Arc<App>,
    token: Token,
    store: gantry_access::TokenStore,
    monitoring: Arc<crate::monitoring::Monitoring>,
    config_path: std::path::PathBuf,
    mcp: Option<gantry_mcp::http::Service>,
    pipelines: crate::runs::Pipelines,
) -> Router {
    let roles = app.core.config().access.roles();
    let api = Api {
        app,
        access: Arc::new(Access::new(token, roles, store)),
        doc: Arc::default(),
        ledger: pipelines.ledger().into(),
        budgets: Arc::clone(&monitoring.budgets),
        monitoring,
        config_path: config_path.into(),
        pipelines: Arc::new(pipelines),
    };
    let (routes, doc) = routes().split_for_parts();
    let _ = api
        .doc
        .set(serde_json::to_value(&doc).unwrap_or(Value::Null));
    // `/mcp` (streamable HTTP) sits behind the same token check as every route.
    let routes = match mcp {
        Some(mcp) => routes.merge(
            axum::Router::new()
                .route_service("/mcp", mcp)
                .layer(middleware::from_fn(mcp_session_end)),
        ),
        None => routes,
    };
    routes
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(
            api.clone(),
            auth::require_token,
        ))
        .with_state(api)
}

#[cfg(test)]
mod tests {
    /// The paths in an axum router's route table. axum has no API to list routes; its
    /// `Debug` output holds the table (`route_id_to_path`), which is what this reads.
    fn routed_paths(router: &axum::Router<super::Api>) -> std::collections::BTreeSet<String> {
        let text = format!("{router:?}");
        let mut out = std::collections::BTreeSet::new();
        for part in text.split('"').skip(1).step_by(2) {
            // The API lives under /v1 (and MCP at /mcp); axum also lists its own "/" there.
            if part.starts_with("/v1/") || part.starts_with("/mcp") || part == "/metrics" {
                out.insert(part.to_string());
            }
        }
        out
    }

    #[test]
    fn every_route_of_the_router_is_in_the_openapi_document_and_needs_a_permission() {
        let (router, doc) = super::routes().split_for_parts();
        let paths = routed_paths(&router);
        assert!(paths.len() >= 11, "{paths:?}");
        let doc = serde_json::to_value(&doc).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in &paths {
            let item = &doc["paths"][path];
            assert!(
                item.is_object(),
                "{path} is routed but not in the OpenAPI document"
            );
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path}: no 401"
                );
                // `{op}` stands for each operation; the permission is the operation's.
                let sample = path.replace("{service}", "web").replace("{op}", "pause");
                let permission = super::auth::required(path, &sample);
                assert!(permission.is_some(), "{method} {path} needs no permission");
                // A call a budget can refuse documents the 429.
                let charged = super::budget::charge(&method.to_uppercase(), permission).action;
                assert_eq!(
                    op["responses"]["429"].is_object(),
                    charged,
                    "{method} {path}: 429 documented but never answered, or answered but not documented"
                );
            }
        }
        let documented: std::collections::BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(documented, paths, "documented paths that are not routed");
    }
}
