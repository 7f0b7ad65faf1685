//! Control of the whole control plane behind the API: emergency stop, start after it,
//! and the `ps` view of every service.

use gantry_deploy::{DeploymentStatus, InstancePhase, InstanceStatus, Phase};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::ServerError;
use crate::app::{App, By};
use crate::deployment::Deployment;

#[derive(Debug, Serialize)]
pub struct ServiceView {
    pub name: String,
    pub listen: Option<String>,
    pub preview: Option<String>,
    pub stable: Option<String>,
    pub weights: std::collections::BTreeMap<String, u32>,
    pub emergency_stop: bool,
    pub deployment: Option<DeploymentStatus>,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Serialize)]
pub struct Ps {
    /// OPERATIONAL, DEGRADED (a service without a ready instance, or a failed/crash-looping
    /// instance) or CRITICAL (emergency stop, or the ledger cannot be written).
    pub status: &'static str,
    pub emergency_stop: bool,
    /// Why the ledger cannot be written (mutating calls are refused until a restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
    pub services: Vec<ServiceView>,
}

impl App {
    /// Emergency stop: every service answers 503, and it is final for everything in
    /// flight: from the moment it is called no instance starts (whoever asks: a
    /// deployment, an automatic rollback, the restore), deployment tasks are cancelled
    /// where they are, every instance is stopped, and the state is CRITICAL until `start`.
    /// Never refused, not even when the ledger cannot be written: stopping is always safe.
    pub async fn emergency_stop(&self) -> Result<serde_json::Value, ServerError> {
        self.halted.store(true, Ordering::Release);
        self.emergency.store(true, Ordering::Release);
        let names: Vec<String> = self.config.services.keys().cloned().collect();
        for name in &names {
            self.publish(name, |_| {});
        }
        self.cancel_restore().await;
        let _guard = self.ops.lock().await;
        let active: Vec<Arc<Deployment>> = self
            .svcs()
            .values()
            .filter_map(|s| s.active.clone())
            .collect();
        let mut aborted = Vec::new();
        for dep in &active {
            dep.request(|r| {
                r.abort = true;
                r.emergency = true;
            });
            let task = dep.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(task) = task {
                task.cancel.abort();
                let _ = task.done.await;
            }
            let _t = dep.transition.lock().await;
            if dep.status().is_done() {
                continue;
            }
            dep.enter_held(
                self,
                Phase::Aborted,
                By::Operator,
                json!({"reason": "emergency stop"}),
                "aborted by emergency stop; stopped where it was".into(),
            )
            .await;
            crate::execute::finish(self, dep, None);
            aborted.push(dep.id.clone());
        }
        let mut stopped = 0;
        for name in &names {
            for i in self.driver.instances(name) {
                stopped += 1;
                let _ = self.driver.stop(name, &i.instance).await;
            }
        }
        self.record(
            By::Operator,
            "control.emergency_stop",
            json!({"status": "CRITICAL", "services": names, "instances_stopped": stopped,
                   "aborted": aborted}),
        )
        .await;
        Ok(json!({"status": "CRITICAL", "instances_stopped": stopped}))
    }

    /// Ends an emergency stop: each service gets exactly its recorded desired state back
    /// (the stable version's `instances`, counting any still running) and traffic once
    /// ready.
    pub async fn start_after_stop(&self) -> Result<serde_json::Value, ServerError> {
        self.admit()?;
        let _guard = self.ops.lock().await;
        if !self.emergency.load(Ordering::Acquire) {
            return Err(ServerError::Conflict(
                "no emergency stop is in force".into(),
            ));
        }
        self.halted.store(false, Ordering::Release);
        let mut started = Vec::new();
        for (name, svc) in &self.config.services {
            let stable = self.svcs().get(name).and_then(|s| s.stable.clone());
            if let Some(v) = stable {
                let deadline = svc.strategy.progress_deadline().as_std();
                let running: Vec<String> = self
                    .driver
                    .instances(name)
                    .into_iter()
                    .filter(|i| i.version == v && i.phase != InstancePhase::Stopping)
                    .map(|i| i.instance)
                    .collect();
                let missing = (*svc.instances)
                    .max(1)
                    .saturating_sub(u32::try_from(running.len()).unwrap_or(u32::MAX));
                if let Err(e) = self
                    .start_and_wait_with(name, &v, missing, &running, deadline, || false)
                    .await
                {
                    self.halted.store(true, Ordering::Release);
                    return Err(ServerError::Conflict(format!(
                        "{name} {v} did not become ready: {e}; still stopped"
                    )));
                }
                started.push(format!("{name} {v}"));
            }
        }
        self.emergency.store(false, Ordering::Release);
        for name in self.config.services.keys() {
            let stable = self.svcs().get(name).and_then(|s| s.stable.clone());
            self.publish(name, |t| {
                t.weights = stable.iter().map(|v| (v.clone(), 100)).collect();
            });
        }
        self.record(
            By::Operator,
            "control.started",
            json!({"after_emergency_stop": true, "started": started}),
        )
        .await;
        Ok(json!({"status": "OPERATIONAL", "started": started}))
    }

    pub fn ps(&self) -> Ps {
        let emergency = self.emergency.load(Ordering::Acquire);
        let mut degraded = false;
        let services: Vec<ServiceView> = self
            .config
            .services
            .keys()
            .map(|name| {
                let svc = self.svcs().get(name).cloned().unwrap_or_default();
                let instances = self.driver.instances(name);
                let traffic = self.traffic(name);
                if svc.stable.is_some() && !instances.iter().any(|i| i.ready) {
                    degraded = true;
                }
                if instances
                    .iter()
                    .any(|i| i.phase == gantry_deploy::InstancePhase::CrashLooping)
                {
                    degraded = true;
                }
                ServiceView {
                    name: name.clone(),
                    listen: self.driver.listen_addr(name).map(|a| a.to_string()),
                    preview: self.driver.preview_addr(name).map(|a| a.to_string()),
                    stable: svc.stable.clone(),
                    weights: traffic.weights,
                    emergency_stop: traffic.emergency_stop,
                    deployment: svc.active.as_ref().map(|d| d.status()),
                    instances,
                }
            })
            .collect();
        let ledger_error = self.ledger_failure();
        Ps {
            status: if emergency || ledger_error.is_some() {
                "CRITICAL"
            } else if degraded {
                "DEGRADED"
            } else {
                "OPERATIONAL"
            },
            emergency_stop: emergency,
            ledger_error,
            services,
        }
    }
}
