//! `POST /v1/control/reload` (`gantry reload`): gantry.yaml read again by the control plane
//! itself, so what is loaded is what is on disk where it runs.

use axum::extract::State;

use super::body::{NoFields, StrictOrEmpty};
use super::{Answer, Api, openapi, to_json};
use crate::core::By;

#[utoipa::path(post, path = "/v1/control/reload", tag = "control",
    description = "Read gantry.yaml again: validated first (the running config stays on any error, which names file:line:column); new services are opened, changed ones apply from their next deployment; recorded as config.reloaded (permission `reload`).",
    request_body(content = Option<NoFields>, description = "None, or {}"),
    responses((status = 200, description = "Reloaded", body = crate::reload::Reloaded), openapi::Errors, openapi::OverBudget))]
pub(super) async fn reload(State(api): State<Api>, _: StrictOrEmpty<NoFields>) -> Answer {
    let env = crate::reload::process_env();
    let (config, sha256) = crate::reload::load(&api.config_path, &env)?;
    let done = api.app.reload(config, sha256, By::Operator).await?;
    to_json(done)
}
