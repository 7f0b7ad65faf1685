//! Control of the whole control plane behind the API: emergency stop, start after it,
//! and the `ps` view of every service.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gantry_deploy::{DeploymentStatus, InstanceStatus};
use serde::Serialize;
use serde_json::json;

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
    /// instance) or CRITICAL (emergency stop).
    pub status: &'static str,
    pub emergency_stop: bool,
    pub services: Vec<ServiceView>,
}

impl App {
    /// Emergency stop: every service answers 503, running deployments are aborted, every
    /// instance is stopped, and the state is CRITICAL until `start`.
    pub async fn emergency_stop(&self) -> Result<serde_json::Value, ServerError> {
        let _guard = self.ops.lock().await;
        self.emergency.store(true, Ordering::Release);
        let names: Vec<String> = self.config.services.keys().cloned().collect();
        for name in &names {
            let mut traffic = self.driver.traffic(name);
            traffic.emergency_stop = true;
            self.driver.set_traffic(name, &traffic);
        }
        let active: Vec<Arc<Deployment>> = self
            .svcs()
            .values()
            .filter_map(|s| s.active.clone())
            .collect();
        for dep in &active {
            dep.request(|r| {
                r.abort = true;
                r.emergency = true;
            });
        }
        for dep in &active {
            let task = dep.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(task) = task {
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
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
                   "aborted": active.iter().map(|d| d.id.clone()).collect::<Vec<_>>()}),
        )
        .await;
        Ok(json!({"status": "CRITICAL", "instances_stopped": stopped}))
    }

    /// Ends an emergency stop: the stable version of every service is started again and
    /// gets traffic once ready.
    pub async fn start_after_stop(&self) -> Result<serde_json::Value, ServerError> {
        let _guard = self.ops.lock().await;
        if !self.emergency.load(Ordering::Acquire) {
            return Err(ServerError::Conflict(
                "no emergency stop is in force".into(),
            ));
        }
        let mut started = Vec::new();
        for (name, svc) in &self.config.services {
            let stable = self.svcs().get(name).and_then(|s| s.stable.clone());
            if let Some(v) = stable {
                let deadline = svc.strategy.progress_deadline().as_std();
                if let Err(e) = self
                    .start_and_wait(name, &v, *svc.instances, deadline, || false)
                    .await
                {
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
            let mut traffic = self.driver.traffic(name);
            traffic.emergency_stop = false;
            traffic.weights = stable.iter().map(|v| (v.clone(), 100)).collect();
            self.driver.set_traffic(name, &traffic);
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
                let traffic = self.driver.traffic(name);
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
        Ps {
            status: if emergency {
                "CRITICAL"
            } else if degraded {
                "DEGRADED"
            } else {
                "OPERATIONAL"
            },
            emergency_stop: emergency,
            services,
        }
    }
}
