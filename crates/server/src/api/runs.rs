//! Pipeline runs over the API: start one (`run_pipeline`), read runs, their stages, steps,
//! checkpoints and step logs (`read`), and sign or veto a waiting checkpoint (`sign`,
//! `veto`) as the token's role. The work is the control plane's ([`crate::runs`]).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::StrictOrEmpty;
use super::{Answer, Api, openapi, to_json};
use crate::ServerError;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartRunRequest {
    /// Most stages running at once (`gantry run --jobs`; default: the number of cores).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 256)]
    jobs: Option<usize>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionRequest {
    /// What was checked and why it is fine; for a veto, the reason (required then, and
    /// when the checkpoint says `summary: required`).
    #[serde(default)]
    summary: Option<String>,
    /// Tokens the deciding agent used, counted against the run's budget.
    #[serde(default)]
    #[schema(maximum = 9007199254740991_u64)]
    tokens: u64,
}

#[utoipa::path(post, operation_id = "start_run", path = "/v1/pipelines/{pipeline}/runs", tag = "pipelines",
    description = "Start a run of a pipeline of gantry.yaml; answered with the run id once the run is in the ledger (permission `run_pipeline`).",
    params(("pipeline" = String, Path, description = "A key of `pipelines:` in gantry.yaml")),
    request_body(content = Option<StartRunRequest>, description = "None, {} or {\"jobs\": N}"),
    responses((status = 200, description = "The run started: its id, pid and output file", body = Object), openapi::Errors, openapi::OverBudget))]
pub(super) async fn start(
    State(api): State<Api>,
    Path(pipeline): Path<String>,
    StrictOrEmpty(req): StrictOrEmpty<StartRunRequest>,
) -> Answer {
    to_json(
        api.app
            .start_run(&api.pipelines, &pipeline, req.jobs)
            .await?,
    )
}

#[utoipa::path(get, operation_id = "list_runs", path = "/v1/runs", tag = "pipelines",
    description = "Every run with status, duration and checkpoints (permission `read`).",
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn list(State(api): State<Api>) -> Answer {
    let state = api.pipelines.state().await?;
    let runs: Vec<Value> = state
        .runs
        .runs
        .values()
        .map(gantry_pipeline::run_summary)
        .collect();
    Ok(Json(json!({ "runs": runs })))
}

#[utoipa::path(get, operation_id = "show_run", path = "/v1/runs/{id}", tag = "pipelines",
    description = "One run with its stages, steps, checkpoints and signers (permission `read`).",
    params(("id" = String, Path, description = "A run id, a unique prefix of one, or `last`")),
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn show(State(api): State<Api>, Path(id): Path<String>) -> Answer {
    let state = api.pipelines.state().await?;
    to_json(gantry_pipeline::find_run(&state.runs, &id).map_err(ServerError::NotFound)?)
}

#[utoipa::path(get, operation_id = "run_logs", path = "/v1/runs/{id}/logs", tag = "pipelines",
    description = "Every step log of a run, read only inside the run's directory (permission `read`).",
    params(("id" = String, Path, description = "A run id, a unique prefix of one, or `last`")),
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn logs(State(api): State<Api>, Path(id): Path<String>) -> Answer {
    to_json(api.pipelines.logs(&id, None).await?)
}

#[utoipa::path(get, operation_id = "step_logs", path = "/v1/runs/{id}/logs/{step}", tag = "pipelines",
    description = "The logs of the steps STEP names (a step, `stage/step` with the slash encoded as %2F, a stage, or a unique prefix), read only inside the run's directory (permission `read`).",
    params(("id" = String, Path, description = "A run id, a unique prefix of one, or `last`"),
        ("step" = String, Path, description = "A step, stage%2Fstep, a stage or a unique prefix")),
    responses((status = 200, description = "OK", body = Object), openapi::Errors))]
pub(super) async fn step_logs(
    State(api): State<Api>,
    Path((id, step)): Path<(String, String)>,
) -> Answer {
    to_json(api.pipelines.logs(&id, Some(&step)).await?)
}

#[utoipa::path(post, operation_id = "sign_checkpoint", path = "/v1/runs/{id}/checkpoints/{stage}/sign", tag = "pipelines",
    description = "Sign the waiting checkpoint of a stage as the token's role, which must be the checkpoint's role (permission `sign`).",
    params(("id" = String, Path, description = "A run id or a unique prefix of one"),
        ("stage" = String, Path, description = "The stage whose checkpoint to sign")),
    request_body(content = Option<DecisionRequest>, description = "None, {} or {\"summary\": TEXT, \"tokens\": N}"),
    responses((status = 200, description = "Signed: the entry's seq", body = Object), openapi::Errors, openapi::OverBudget))]
pub(super) async fn sign(
    State(api): State<Api>,
    Path((id, stage)): Path<(String, String)>,
    StrictOrEmpty(req): StrictOrEmpty<DecisionRequest>,
) -> Answer {
    decide(
        &api,
        "POST /v1/runs/{id}/checkpoints/{stage}/sign",
        &id,
        &stage,
        false,
        req,
    )
    .await
}

#[utoipa::path(post, operation_id = "veto_checkpoint", path = "/v1/runs/{id}/checkpoints/{stage}/veto", tag = "pipelines",
    description = "Veto the waiting checkpoint of a stage as the token's role, which must be the checkpoint's role; the run fails with the summary as reason (permission `veto`).",
    params(("id" = String, Path, description = "A run id or a unique prefix of one"),
        ("stage" = String, Path, description = "The stage whose checkpoint to veto")),
    request_body(content = Option<DecisionRequest>, description = "{\"summary\": REASON}"),
    responses((status = 200, description = "Vetoed: the entry's seq", body = Object), openapi::Errors, openapi::OverBudget))]
pub(super) async fn veto(
    State(api): State<Api>,
    Path((id, stage)): Path<(String, String)>,
    StrictOrEmpty(req): StrictOrEmpty<DecisionRequest>,
) -> Answer {
    decide(
        &api,
        "POST /v1/runs/{id}/checkpoints/{stage}/veto",
        &id,
        &stage,
        true,
        req,
    )
    .await
}

async fn decide(
    api: &Api,
    route: &str,
    id: &str,
    stage: &str,
    veto: bool,
    req: DecisionRequest,
) -> Answer {
    let summary = req.summary.unwrap_or_default();
    to_json(
        api.app
            .decide(
                &api.pipelines,
                route,
                crate::runs::Decision {
                    run: id,
                    stage,
                    veto,
                    summary: &summary,
                    tokens_used: req.tokens,
                },
            )
            .await?,
    )
}
