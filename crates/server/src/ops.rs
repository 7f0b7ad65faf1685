//! The deployment operations behind the API: deploy, promote, pause, resume, abort and
//! rollback (emergency stop, start and `ps` are in [`crate::control`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use gantry_config::{Strategy, StrategyKind};
use gantry_deploy::{DeploymentStatus, Op, Phase, Plan, plan_deploy, plan_rollback};
use serde::Deserialize;
use serde_json::json;

use crate::ServerError;
use crate::app::{App, By};
use crate::deployment::Deployment;

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
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// The service's strategy, or a default one of `kind` when the deploy overrides it.
fn strategy_for(
    service: &gantry_config::Service,
    kind: Option<StrategyKind>,
) -> Result<Strategy, ServerError> {
    let Some(kind) = kind.filter(|k| *k != service.strategy.kind()) else {
        return Ok(service.strategy.clone());
    };
    let pause = service
        .analysis
        .as_ref()
        .map_or_else(|| "10s".to_string(), |a| a.window.to_string());
    let value = match kind {
        StrategyKind::Rolling => json!({"rolling": {}}),
        StrategyKind::BlueGreen => {
            json!({"blue_green": {"auto_promote": true, "scale_down_delay": "0s"}})
        }
        StrategyKind::Canary => json!({"canary": {"steps": [
            {"weight": 20, "pause": pause}, {"weight": 50, "pause": pause}]}}),
    };
    serde_json::from_value(value).map_err(|e| ServerError::BadRequest(e.to_string()))
}

impl App {
    /// A deployment id never used before: the counter continues the ledger's, and an id the
    /// ledger knows (even from an entry the rule table refused to count) is skipped.
    pub(crate) fn next_id(&self, service: &str) -> String {
        let past = self.past.lock().unwrap_or_else(|e| e.into_inner());
        let ours = self.deployments_mut();
        let mut svcs = self.svcs();
        let svc = svcs.entry(service.to_string()).or_default();
        loop {
            svc.deployments += 1;
            let id = format!("{service}-{}", svc.deployments);
            if !past.contains_key(&id) && !ours.contains_key(&id) {
                return id;
            }
        }
    }

    fn refuse_if_stopped(&self) -> Result<(), ServerError> {
        if self.emergency.load(Ordering::Acquire) {
            return Err(ServerError::Conflict(
                "an emergency stop is in force; run `gantry start` first".into(),
            ));
        }
        Ok(())
    }

    fn refuse_if_active(&self, service: &str) -> Result<(), ServerError> {
        if let Some(active) = self.svcs().get(service).and_then(|s| s.active.clone()) {
            return Err(ServerError::Conflict(format!(
                "deployment {} of {service} ({} → {}) is {}; wait for it, or `gantry abort {service}`",
                active.id,
                active.plan.from.as_deref().unwrap_or("nothing"),
                active.plan.to,
                active.status().phase.name().replace('_', " ")
            )));
        }
        Ok(())
    }

    /// Starts a deployment; it runs in the background. Returns its first status.
    pub async fn deploy(
        self: &Arc<Self>,
        service: &str,
        req: DeployRequest,
    ) -> Result<DeploymentStatus, ServerError> {
        let config = self.service_config(service)?.clone();
        if !config.releases.contains_key(&req.version) {
            return Err(ServerError::BadRequest(format!(
                "service '{service}' has no release '{}'; releases: {}",
                req.version,
                config
                    .releases
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.admit()?;
        let _guard = self.ops.lock().await;
        self.refuse_if_stopped()?;
        self.refuse_if_active(service)?;
        let stable = self.svcs().get(service).and_then(|s| s.stable.clone());
        if stable.as_deref() == Some(req.version.as_str()) {
            return Err(ServerError::Conflict(format!(
                "{service} already runs {}; nothing to deploy",
                req.version
            )));
        }
        let strategy = strategy_for(&config, req.strategy)?;
        let plan = plan_deploy(service, &config, stable.as_deref(), &req.version, &strategy);
        let id = self.next_id(service);
        let steps: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        let dep = Arc::new(Deployment::new(id.clone(), plan));
        self.svcs().entry(service.to_string()).or_default().active = Some(Arc::clone(&dep));
        self.deployments_mut().insert(id.clone(), Arc::clone(&dep));
        dep.enter(
            self,
            Phase::Started,
            By::Operator,
            json!({"steps": steps}),
            format!(
                "deploy {} → {} ({})",
                dep.plan.from.as_deref().unwrap_or("nothing"),
                dep.plan.to,
                dep.plan.strategy
            ),
        )
        .await;
        // A deployment that cannot be recorded does not run: nothing could prove it.
        if self.ledger_failure().is_some() {
            self.forget(service, &dep);
            self.admit()?;
        }
        self.spawn(&dep);
        Ok(dep.status())
    }

    /// Takes back a deployment that never ran.
    fn forget(&self, service: &str, dep: &Deployment) {
        self.deployments_mut().remove(&dep.id);
        if let Some(s) = self.svcs().get_mut(service)
            && s.active.as_ref().is_some_and(|a| a.id == dep.id)
        {
            s.active = None;
        }
    }

    pub(crate) fn spawn(self: &Arc<Self>, dep: &Arc<Deployment>) {
        crate::execute::spawn(self, dep);
    }

    pub(crate) fn deployments_mut(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Arc<Deployment>>> {
        self.deployments.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A deployment of this run, else one from the ledger (before this start).
    pub fn deployment(&self, id: &str) -> Result<DeploymentStatus, ServerError> {
        if let Some(d) = self.deployments_mut().get(id) {
            return Ok(d.status());
        }
        self.past
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ServerError::NotFound(format!("no deployment '{id}' in the ledger")))
    }

    /// promote, pause, resume or abort the service's running deployment. Each is checked
    /// against the deployment's phase and applied (and recorded) under its transition
    /// lock, so none lands after the deployment's end; a refusal says why.
    pub async fn operate(&self, service: &str, op: Op) -> Result<DeploymentStatus, ServerError> {
        self.service_config(service)?;
        self.admit()?;
        let dep = self
            .svcs()
            .get(service)
            .and_then(|s| s.active.clone())
            .ok_or_else(|| {
                ServerError::Conflict(format!("no deployment of {service} is running"))
            })?;
        let _t = dep.transition.lock().await;
        let status = dep.status();
        status.phase.allows(op).map_err(ServerError::Conflict)?;
        if dep.plan.strategy == "rollback" {
            return Err(ServerError::Conflict(format!(
                "{} is a rollback to {}: it runs to its end (an emergency stop ends it where it is)",
                dep.id, dep.plan.to
            )));
        }
        match op {
            Op::Promote => {
                let req = dep.requests();
                if !req.in_pause && !status.operator_paused {
                    return Err(ServerError::Conflict(format!(
                        "{} is not in a pause (step {}/{}: {}); `promote` ends a pause, `promote --full` skips every remaining step",
                        dep.id, status.step, status.steps, status.current
                    )));
                }
                // A promote also ends an operator's pause, as in Argo Rollouts.
                dep.request(|r| {
                    if r.in_pause {
                        r.advance = 1;
                    }
                    r.pause = false;
                });
                if status.operator_paused {
                    self.resumed(&dep, json!({"resumed": true, "by": "promote"}))
                        .await;
                }
            }
            Op::PromoteFull => {
                dep.request(|r| {
                    r.full = true;
                    r.pause = false;
                });
                dep.with_status(|s| s.operator_paused = false);
            }
            Op::Abort => dep.request(|r| r.abort = true),
            Op::Pause => {
                dep.request(|r| r.pause = true);
                dep.with_status(|s| s.operator_paused = true);
                dep.enter_held(
                    self,
                    Phase::Paused,
                    By::Operator,
                    json!({"reason": "paused by the operator"}),
                    "paused by the operator".into(),
                )
                .await;
            }
            Op::Resume => {
                if !status.operator_paused {
                    return Err(ServerError::Conflict(format!(
                        "{} was not paused by the operator ({}); `gantry promote` ends its pause",
                        dep.id,
                        status.reason.as_deref().unwrap_or("paused")
                    )));
                }
                dep.request(|r| r.pause = false);
                self.resumed(&dep, json!({"resumed": true})).await;
            }
        }
        Ok(dep.status())
    }

    /// Records the end of an operator's pause (the caller holds the transition lock).
    async fn resumed(&self, dep: &Deployment, body: serde_json::Value) {
        dep.with_status(|s| s.operator_paused = false);
        dep.enter_held(
            self,
            Phase::Progressing,
            By::Operator,
            body,
            "resumed by the operator".into(),
        )
        .await;
    }

    /// Plans a return to `to` (default: the previous stable version); runs it unless
    /// `dry_run`, which changes and records nothing.
    pub async fn rollback(
        self: &Arc<Self>,
        service: &str,
        req: RollbackRequest,
    ) -> Result<serde_json::Value, ServerError> {
        let config = self.service_config(service)?.clone();
        let _guard = if req.dry_run {
            None
        } else {
            Some(self.ops.lock().await)
        };
        if !req.dry_run {
            self.admit()?;
            self.refuse_if_stopped()?;
        }
        self.refuse_if_active(service)?;
        let (stable, history) = self
            .svcs()
            .get(service)
            .map(|s| (s.stable.clone(), s.history.clone()))
            .unwrap_or_default();
        let to = match req.to {
            Some(v) => v,
            None => history.last().cloned().ok_or_else(|| {
                ServerError::Conflict(format!(
                    "{service} has no earlier version to roll back to; name one with --to"
                ))
            })?,
        };
        if !config.releases.contains_key(&to) {
            return Err(ServerError::BadRequest(format!(
                "service '{service}' has no release '{to}'; releases: {}",
                config
                    .releases
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if stable.as_deref() == Some(to.as_str()) {
            return Err(ServerError::Conflict(format!(
                "{service} already runs {to}"
            )));
        }
        let deadline = config.strategy.progress_deadline().as_millis();
        let mut plan: Plan = plan_rollback(
            service,
            &to,
            *config.instances,
            &self.counts(service),
            deadline,
        );
        plan.from = stable.clone();
        let steps: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        if req.dry_run {
            return Ok(json!({"dry_run": true, "plan": plan, "steps": steps}));
        }
        let id = self.next_id(service);
        let dep = Arc::new(Deployment::new(id.clone(), plan));
        self.svcs().entry(service.to_string()).or_default().active = Some(Arc::clone(&dep));
        self.deployments_mut().insert(id.clone(), Arc::clone(&dep));
        dep.set_phase(Phase::Progressing);
        self.record_for(
            Some(&dep),
            By::Operator,
            "rollback.planned",
            json!({"id": id, "service": service, "from": stable, "to": to, "steps": steps, "reason": "manual rollback"}),
            format!("rollback {} → {to} planned", stable.as_deref().unwrap_or("nothing")),
        )
        .await;
        self.spawn(&dep);
        Ok(json!({"dry_run": false, "deployment": dep.status(), "steps": steps}))
    }
}
