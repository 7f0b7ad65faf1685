//! The deployment operations of the facade: deploy, promote, pause, resume, abort and
//! rollback, each a command to the service's owner (emergency stop, start and `ps` are in
//! [`crate::control`]).

use std::sync::Arc;

use gantry_config::StrategyKind;
use gantry_deploy::{DeploymentStatus, Op};
use serde::Deserialize;

use crate::ServerError;
use crate::app::App;
use crate::command::Command;

/// API request bodies refuse unknown fields: a misspelt option must not be dropped.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// A release of the service (a key of its `releases:`).
    pub version: String,
    /// Override the service's strategy for this deploy.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::openapi::StrategyName>)]
    pub strategy: Option<StrategyKind>,
    /// The environment to deploy to (a key of `environments:`); needed when gantry.yaml
    /// declares several. The path may name it instead (`web@staging`).
    #[serde(default)]
    pub env: Option<String>,
    /// Deploy although the environment's policy vetoes it, for this reason (recorded as
    /// `policy.overridden`); the caller's role needs `override_policy`.
    #[serde(default)]
    pub override_policy: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

impl App {
    /// Starts a deployment; it runs in the background. Returns its first status.
    pub async fn deploy(
        self: &Arc<Self>,
        service: &str,
        req: DeployRequest,
    ) -> Result<DeploymentStatus, ServerError> {
        let target = crate::targets::resolve(&self.core.config(), service, req.env.as_deref())
            .map_err(|e| self.core.with_reload_hint(e))?;
        let service = target.as_str();
        let config = self.core.service_config(service)?;
        // A git tag is built (once) before anything else changes; a missing one is refused.
        self.core
            .prepare_release(service, &req.version, false)
            .await?;
        if !self.core.has_release(service, &req.version) {
            return Err(self.core.no_release(service, &req.version, &config));
        }
        self.admit(service, &req.version, req.override_policy.as_deref())
            .await?;
        self.ask(service, |reply| Command::Deploy {
            version: req.version,
            strategy: req.strategy,
            reply,
        })
        .await
    }

    /// A deployment of this run, else one from the ledger (before this start).
    pub fn deployment(&self, id: &str) -> Result<DeploymentStatus, ServerError> {
        for owner in self.owners().values() {
            let view = owner.view.borrow();
            if let Some(d) = view.active.as_ref().filter(|d| d.id == id) {
                return Ok(d.clone());
            }
            if let Some(d) = view.finished.get(id) {
                return Ok(d.clone());
            }
        }
        self.past
            .get(id)
            .cloned()
            .ok_or_else(|| ServerError::NotFound(format!("no deployment '{id}' in the ledger")))
    }

    /// promote, pause, resume or abort the service's running deployment, applied by its
    /// owner against the deployment's phase; a refusal says why.
    pub async fn operate(&self, service: &str, op: Op) -> Result<DeploymentStatus, ServerError> {
        self.ask(service, |reply| Command::Operate { op, reply })
            .await
    }

    /// Plans a return to `to` (default: the previous stable version); runs it unless
    /// `dry_run`, which changes and records nothing.
    pub async fn rollback(
        self: &Arc<Self>,
        service: &str,
        req: RollbackRequest,
    ) -> Result<serde_json::Value, ServerError> {
        if let Some(to) = &req.to {
            self.core.service_config(service)?;
            // A git tag: built for a rollback, only checked to exist for a dry run.
            self.core.prepare_release(service, to, req.dry_run).await?;
        }
        self.ask(service, |reply| Command::Rollback { req, reply })
            .await
    }
}
