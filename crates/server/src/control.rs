//! Control of the whole control plane behind the API: emergency stop and start after it,
//! sent to every service's owner and sequenced here, and the `ps` view of every service
//! from the owners' snapshots.

use gantry_deploy::{DeploymentStatus, InstanceStatus};
use serde::Serialize;
use serde_json::json;
use tokio::sync::oneshot;

use crate::ServerError;
use crate::app::{App, By};
use crate::command::{Command, Control, Stopped};

#[derive(Debug, Serialize)]
pub struct ServiceView {
    /// The target: the service, or `service@env` when gantry.yaml declares environments.
    pub name: String,
    /// The service and environment of the target.
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
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
    /// flight: each owner cancels its jobs where they are (a deployment, an automatic
    /// rollback, the restore) before it answers, so no instance starts after it is
    /// recorded; every instance is stopped, and the state is CRITICAL until `start`.
    /// Never refused, not even when the ledger cannot be written: stopping is always safe.
    pub async fn emergency_stop(&self) -> Result<serde_json::Value, ServerError> {
        let _one = self.control.lock().await;
        self.emergency.send_replace(true);
        // Every owner gets the stop before any is waited for: traffic is refused
        // everywhere at once, not service after service.
        let mut answers = Vec::new();
        for owner in self.owners().values() {
            let (reply, rx) = oneshot::channel();
            if owner
                .tx
                .send(Command::Control(Control::Stop { reply }))
                .await
                .is_ok()
            {
                answers.push(rx);
            }
        }
        let mut stopped = 0;
        let mut aborted = Vec::new();
        for rx in answers {
            let s: Stopped = rx.await.unwrap_or_default();
            stopped += s.instances;
            aborted.extend(s.aborted);
        }
        let names: Vec<String> = self.owners().into_keys().collect();
        self.core
            .record(
                By::Operator,
                "control.emergency_stop",
                json!({"status": "CRITICAL", "services": names, "instances_stopped": stopped,
                       "aborted": aborted}),
            )
            .await;
        Ok(json!({"status": "CRITICAL", "instances_stopped": stopped}))
    }

    /// Ends an emergency stop: each service gets exactly its recorded desired state back
    /// (the stable version's `instances`, counting any still running), and traffic once
    /// every service is ready.
    pub async fn start_after_stop(&self) -> Result<serde_json::Value, ServerError> {
        let _one = self.control.lock().await;
        self.core.writable()?;
        if self.owners().values().any(|o| o.view.borrow().restoring) {
            return Err(ServerError::Unavailable {
                reason:
                    "the control plane is restoring services after a restart; try again shortly"
                        .into(),
                retry_after: Some(1),
            });
        }
        if !*self.emergency.borrow() {
            return Err(ServerError::Conflict(
                "no emergency stop is in force".into(),
            ));
        }
        let mut started = Vec::new();
        for name in self.owners().keys() {
            let answer = self
                .ask(name, |reply| {
                    Command::Control(Control::StartInstances { reply })
                })
                .await;
            match answer {
                Ok(Some(what)) => started.push(what),
                Ok(None) => {}
                Err(e) => {
                    // Still stopped everywhere: no service starts anything until the next
                    // `start`.
                    for owner in self.owners().values() {
                        let (reply, rx) = oneshot::channel();
                        let _ = owner
                            .tx
                            .send(Command::Control(Control::Halt { reply }))
                            .await;
                        let _ = rx.await;
                    }
                    return Err(e);
                }
            }
        }
        for owner in self.owners().values() {
            let (reply, rx) = oneshot::channel();
            let _ = owner
                .tx
                .send(Command::Control(Control::Reopen { reply }))
                .await;
            let _ = rx.await;
        }
        self.emergency.send_replace(false);
        self.core
            .record(
                By::Operator,
                "control.started",
                json!({"after_emergency_stop": true, "started": started}),
            )
            .await;
        Ok(json!({"status": "OPERATIONAL", "started": started}))
    }

    pub fn ps(&self) -> Ps {
        let emergency = *self.emergency.borrow();
        let mut degraded = false;
        let driver = &self.core.driver;
        let services: Vec<ServiceView> = self
            .owners()
            .into_iter()
            .map(|(name, owner)| {
                let view = owner.view.borrow().clone();
                let instances = driver.instances(&name);
                if view.stable.is_some() && !instances.iter().any(|i| i.ready) {
                    degraded = true;
                }
                if instances
                    .iter()
                    .any(|i| i.phase == gantry_deploy::InstancePhase::CrashLooping)
                {
                    degraded = true;
                }
                let (service, env) = gantry_config::split_target(&name);
                ServiceView {
                    service: service.to_string(),
                    env: env.map(str::to_string),
                    listen: driver.listen_addr(&name).map(|a| a.to_string()),
                    preview: driver.preview_addr(&name).map(|a| a.to_string()),
                    name,
                    stable: view.stable,
                    weights: view.traffic.weights,
                    emergency_stop: view.traffic.emergency_stop,
                    deployment: view.active,
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
