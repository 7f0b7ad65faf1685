//! The operator's operations as the owner applies them: deploy, promote, pause, resume,
//! abort and rollback. Each is checked against what the owner holds and applied (and
//! recorded) before the next command is looked at; a refusal says why.

use gantry_config::{Strategy, StrategyKind};
use gantry_deploy::{DeploymentStatus, Op, Phase, plan_deploy, plan_rollback};
use serde_json::{Value, json};

use super::{Job, Outcome, Owner};
use crate::ServerError;
use crate::core::By;
use crate::deployment::Dep;
use crate::execute::execute;
use crate::ops::RollbackRequest;

/// The service's strategy, or a default one of `kind` when the deploy overrides it.
pub(super) fn strategy_for(
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

impl Owner {
    /// Whether a mutating call may run now: never after a ledger write failed, and not
    /// while restore after a restart is under way (it would run beside it).
    pub(super) fn admit(&self) -> Result<(), ServerError> {
        self.core.writable()?;
        if self.restoring {
            return Err(ServerError::Unavailable {
                reason:
                    "the control plane is restoring services after a restart; try again shortly"
                        .into(),
                retry_after: Some(1),
            });
        }
        Ok(())
    }

    fn refuse_if_stopped(&self) -> Result<(), ServerError> {
        if self.stopped {
            return Err(ServerError::Conflict(
                "an emergency stop is in force; run `gantry start` first".into(),
            ));
        }
        Ok(())
    }

    fn refuse_if_active(&self) -> Result<(), ServerError> {
        if let Some(active) = &self.active {
            return Err(ServerError::Conflict(format!(
                "deployment {} of {} ({} → {}) is {}; wait for it, or `gantry abort {}`",
                active.id,
                self.name,
                active.plan.from.as_deref().unwrap_or("nothing"),
                active.plan.to,
                active.status.phase.name().replace('_', " "),
                self.name
            )));
        }
        Ok(())
    }

    /// A deployment id never used before: the counter continues the ledger's, and an id the
    /// ledger knows (even from an entry the rule table refused to count) is skipped.
    fn next_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let id = format!("{}-{}", self.name, self.counter);
            if !self.past.contains_key(&id) && !self.finished.contains_key(&id) {
                return id;
            }
        }
    }

    /// Starts the job of the active deployment.
    pub(super) fn spawn_active(&mut self) {
        let Some(exec) = self.exec() else { return };
        let id = exec.id.clone();
        let job = self.jobs.spawn(async move {
            execute(exec).await;
            Outcome::Deployment
        });
        self.kinds.insert(job.id(), Job::Deployment(id));
    }

    pub(super) async fn deploy(
        &mut self,
        version: String,
        strategy: Option<StrategyKind>,
    ) -> Result<DeploymentStatus, ServerError> {
        self.admit()?;
        self.refuse_if_stopped()?;
        self.refuse_if_active()?;
        if self.stable.as_deref() == Some(version.as_str()) {
            return Err(ServerError::Conflict(format!(
                "{} already runs {version}; nothing to deploy",
                self.name
            )));
        }
        let config = self.core.service_config(&self.name)?;
        let strategy = strategy_for(&config, strategy)?;
        let plan = plan_deploy(
            &self.name,
            &config,
            self.stable.as_deref(),
            &version,
            &strategy,
        );
        let id = self.next_id();
        let steps: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        let text = format!(
            "deploy {} → {} ({})",
            plan.from.as_deref().unwrap_or("nothing"),
            plan.to,
            plan.strategy
        );
        self.active = Some(Dep::new(id, plan, config));
        if let Some((env, role, timeout)) = super::approval::wanted(&self.core.config(), &self.name)
        {
            // Nothing starts before the environment's approval.
            self.request_approval(env, role, timeout).await;
            if let Err(e) = self.core.writable() {
                self.stop_watcher();
                self.active = None;
                return Err(e);
            }
            return Ok(self
                .active
                .as_ref()
                .map(|d| d.status.clone())
                .expect("just set"));
        }
        self.enter(Phase::Started, By::Operator, json!({"steps": steps}), text)
            .await;
        // A deployment that cannot be recorded does not run: nothing could prove it.
        if let Err(e) = self.core.writable() {
            self.active = None;
            return Err(e);
        }
        self.spawn_active();
        Ok(self
            .active
            .as_ref()
            .map(|d| d.status.clone())
            .expect("just set"))
    }

    pub(super) async fn operate(&mut self, op: Op) -> Result<DeploymentStatus, ServerError> {
        self.admit()?;
        let name = self.name.clone();
        let Some(dep) = self.active.as_mut() else {
            return Err(ServerError::Conflict(format!(
                "no deployment of {name} is running"
            )));
        };
        let status = dep.status.clone();
        status.phase.allows(op).map_err(ServerError::Conflict)?;
        if dep.is_rollback() {
            return Err(ServerError::Conflict(format!(
                "{} is a rollback to {}: it runs to its end (an emergency stop ends it where it is)",
                dep.id, dep.plan.to
            )));
        }
        if status.phase == Phase::AwaitingApproval {
            // Only an abort is allowed (`allows`), and there is no job to tell.
            self.abort_awaiting().await;
            return Ok(self.finished.get(&status.id).cloned().unwrap_or(status));
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
                    self.resumed(json!({"resumed": true, "by": "promote"}))
                        .await;
                }
                self.release_held().await;
            }
            Op::PromoteFull => {
                dep.request(|r| {
                    r.full = true;
                    r.pause = false;
                });
                dep.status.operator_paused = false;
                self.release_held().await;
            }
            Op::Abort => {
                dep.request(|r| {
                    r.abort = true;
                    r.pause = false;
                });
                // Held effects are refused now: the executor rolls back from where it is.
                self.release_held().await;
            }
            Op::Pause => {
                dep.request(|r| r.pause = true);
                dep.status.operator_paused = true;
                self.enter(
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
                self.resumed(json!({"resumed": true})).await;
                self.release_held().await;
            }
        }
        Ok(self
            .active
            .as_ref()
            .map(|d| d.status.clone())
            .unwrap_or(status))
    }

    /// Records the end of an operator's pause.
    async fn resumed(&mut self, body: Value) {
        if let Some(d) = self.active.as_mut() {
            d.status.operator_paused = false;
        }
        self.enter(
            Phase::Progressing,
            By::Operator,
            body,
            "resumed by the operator".into(),
        )
        .await;
    }

    /// Plans a return to `to` (default: the previous stable version); runs it unless
    /// `dry_run`, which changes and records nothing.
    pub(super) async fn rollback(&mut self, req: RollbackRequest) -> Result<Value, ServerError> {
        let service = self.name.clone();
        let config = self.core.service_config(&service)?;
        if !req.dry_run {
            self.admit()?;
            self.refuse_if_stopped()?;
        }
        self.refuse_if_active()?;
        let to = match req.to {
            Some(v) => v,
            None => self.history.last().cloned().ok_or_else(|| {
                ServerError::Conflict(format!(
                    "{service} has no earlier version to roll back to; name one with --to"
                ))
            })?,
        };
        // A git tag was built (or, for a dry run, found) before the owner was asked.
        let git_tag =
            config.releases_from.is_some() && (req.dry_run || self.core.has_release(&service, &to));
        if !config.releases.contains_key(&to) && !git_tag {
            return Err(self.core.no_release(&service, &to, &config));
        }
        let stable = self.stable.clone();
        if stable.as_deref() == Some(to.as_str()) {
            return Err(ServerError::Conflict(format!(
                "{service} already runs {to}"
            )));
        }
        let deadline = config.strategy.progress_deadline().as_millis();
        let mut plan = plan_rollback(
            &service,
            &to,
            *config.instances,
            &self.core.counts(&service),
            deadline,
        );
        plan.from = stable.clone();
        let steps: Vec<String> = plan.steps.iter().map(ToString::to_string).collect();
        if req.dry_run {
            return Ok(json!({"dry_run": true, "plan": plan, "steps": steps}));
        }
        let id = self.next_id();
        let mut dep = Dep::new(id.clone(), plan, config);
        dep.status.phase = Phase::Progressing;
        self.active = Some(dep);
        self.record_on(
            By::Operator,
            "rollback.planned",
            json!({"id": id, "service": service, "from": stable, "to": to, "steps": steps, "reason": "manual rollback"}),
            format!("rollback {} → {to} planned", stable.as_deref().unwrap_or("nothing")),
        )
        .await;
        self.spawn_active();
        let status = self.active.as_ref().map(|d| d.status.clone());
        Ok(json!({"dry_run": false, "deployment": status, "steps": steps}))
    }
}
