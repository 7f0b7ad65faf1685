//! The decision log over the API: read it (`read`), veto a service (`veto`), approve one
//! (`approve`: clears its blocking vetoes) and grant the approval a deploy waits for
//! (`approve`), each as the token's role. The work is the control plane's
//! ([`crate::decisions`]).

use axum::extract::{Path, Query, State};
use serde::Deserialize;

use super::body::{Strict, StrictOrEmpty};
use super::{Answer, Api, openapi, to_json};
use crate::ServerError;

/// The query `GET /v1/decisions` takes; read as a map so that an unknown parameter is
/// refused in JSON like every other error.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct DecisionsQuery {
    /// Only decisions about this service.
    service: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VetoRequest {
    /// The service vetoed; a blocking veto stops its deploys.
    service: String,
    /// What is wrong, in one phrase (e.g. a rule name: readinessProbeMissing).
    #[schema(min_length = 1)]
    violation: String,
    #[serde(default)]
    specifics: Vec<String>,
    /// What happens if it ships as it is.
    #[serde(default)]
    impact: String,
    /// What must be true before it may ship.
    #[serde(default)]
    requirement: String,
    /// What the addressee must do.
    #[serde(default)]
    action_needed: String,
    /// The role (or agent) the veto is addressed to (default `planner`).
    #[serde(default)]
    to: Option<String>,
    /// Stop the service's deploys until an approve (default true).
    #[serde(default)]
    blocking: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveRequest {
    /// The service approved: every blocking veto standing on it is cleared.
    service: String,
    /// What was checked and why it may ship.
    #[serde(default)]
    summary: String,
    /// The role (or agent) the approval is addressed to (default `operator`).
    #[serde(default)]
    to: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantRequest {
    /// What was checked and why it may ship.
    #[serde(default)]
    summary: String,
}

#[utoipa::path(get, operation_id = "list_decisions", path = "/v1/decisions", tag = "decisions",
    description = "Every approve and veto in ledger order, as `gantry decisions --json` lists them (permission `read`).",
    params(DecisionsQuery),
    responses((status = 200, description = "The decisions, oldest first", body = [Object]), openapi::Errors))]
pub(super) async fn list(
    State(api): State<Api>,
    Query(q): Query<std::collections::BTreeMap<String, String>>,
) -> Answer {
    if let Some(other) = q.keys().find(|k| *k != "service") {
        return Err(ServerError::BadRequest(format!(
            "unknown query parameter '{other}'; GET /v1/decisions takes only service"
        )));
    }
    to_json(
        api.app
            .decisions(&api.pipelines, q.get("service").map(String::as_str))
            .await?,
    )
}

#[utoipa::path(post, operation_id = "veto_service", path = "/v1/decisions/veto", tag = "decisions",
    description = "Veto a service as the token's role, signed with that role's key; a blocking veto refuses its deploys until an approve (permission `veto`).",
    request_body = VetoRequest,
    responses((status = 200, description = "Vetoed: the entry's seq", body = Object), openapi::Errors, openapi::OverBudget))]
pub(super) async fn veto(State(api): State<Api>, Strict(req): Strict<VetoRequest>) -> Answer {
    let veto = gantry_state::decide::Veto {
        service: req.service,
        violation: req.violation,
        specifics: req.specifics,
        impact: req.impact,
        requirement: req.requirement,
        action_needed: req.action_needed,
        to: req.to.unwrap_or_else(|| "planner".into()),
        blocking: req.blocking.unwrap_or(true),
    };
    to_json(
        api.app
            .veto_service(&api.pipelines, "POST /v1/decisions/veto", veto)
            .await?,
    )
}

#[utoipa::path(post, operation_id = "approve_service", path = "/v1/decisions/approve", tag = "decisions",
    description = "Approve a service as the token's role (verifier or operator), clearing every blocking veto standing on it (permission `approve`).",
    request_body = ApproveRequest,
    responses((status = 200, description = "Approved: the entry's seq and the vetoes cleared", body = Object), openapi::Errors, openapi::OverBudget))]
pub(super) async fn approve(State(api): State<Api>, Strict(req): Strict<ApproveRequest>) -> Answer {
    let to = req.to.unwrap_or_else(|| "operator".into());
    to_json(
        api.app
            .approve_service(
                &api.pipelines,
                "POST /v1/decisions/approve",
                &req.service,
                &to,
                &req.summary,
            )
            .await?,
    )
}

#[utoipa::path(post, operation_id = "approve_deployment", path = "/v1/services/{service}/approve", tag = "deployments",
    description = "Grant the approval a deploy waiting in `awaiting_approval` needs, as the token's role, which must be the environment's approval role (403 naming it otherwise; 409 when nothing waits) (permission `approve`).",
    params(("service" = String, Path, description = "A service of gantry.yaml, or SERVICE@ENV", example = "web@production")),
    request_body(content = Option<GrantRequest>, description = "None, {} or {\"summary\": TEXT}"),
    responses((status = 200, description = "Granted: the deployment starts", body = Object), openapi::Errors, openapi::OverBudget))]
pub(super) async fn approve_deployment(
    State(api): State<Api>,
    Path(service): Path<String>,
    StrictOrEmpty(req): StrictOrEmpty<GrantRequest>,
) -> Answer {
    to_json(
        api.app
            .approve_deployment(
                &api.pipelines,
                "POST /v1/services/{service}/approve",
                &service,
                &req.summary,
            )
            .await?,
    )
}
