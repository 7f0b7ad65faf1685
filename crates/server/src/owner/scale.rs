//! A scaling step: recorded as `scale.changed`, then the stable version's instances are
//! started (and waited for until ready, so they take traffic) or drained and stopped
//! through the driver, in a job of the owner (an emergency stop cancels it as any other).

use std::sync::Arc;

use gantry_deploy::InstancePhase;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Outcome, Owner};
use crate::command::ScaleRequest;
use crate::core::By;

impl Owner {
    pub(super) async fn scale(&mut self, req: ScaleRequest) {
        let held = if self.restoring {
            Some("the service is being restored")
        } else if self.halted || self.stopped {
            Some("an emergency stop is in force")
        } else if self.active.is_some() {
            Some("a deployment is in progress")
        } else if self.waiting.is_some() {
            Some("a start or stop is in progress")
        } else if self.stable.as_deref() != Some(req.version.as_str()) {
            Some("the stable version changed")
        } else {
            None
        };
        if let Some(why) = held {
            let _ = req.reply.send(Err(why.into()));
            return;
        }
        let svc = match self.core.service_config(&self.name) {
            Ok(s) => s.clone(),
            Err(e) => {
                let _ = req.reply.send(Err(e.to_string()));
                return;
            }
        };
        let body = json!({
            "service": self.name, "version": req.version, "from": req.from, "to": req.to,
            "cpu_percent": req.cpu_percent, "target_cpu_percent": req.target_percent,
            "instances_measured": req.measured,
            "min": svc.scaling.as_ref().map(|s| *s.min), "max": svc.scaling.as_ref().map(|s| *s.max),
        });
        if self
            .core
            .record(By::System, "scale.changed", body)
            .await
            .is_none()
        {
            let _ = req.reply.send(Err("the ledger cannot be written".into()));
            return;
        }
        let core = Arc::clone(&self.core);
        let name = self.name.clone();
        let deadline = svc.strategy.progress_deadline().as_std();
        self.spawn_control(async move {
            let ScaleRequest {
                version,
                from,
                to,
                reply,
                ..
            } = req;
            let result = if to > from {
                let running: Vec<String> = core
                    .driver
                    .instances(&name)
                    .into_iter()
                    .filter(|i| i.version == version && i.phase != InstancePhase::Stopping)
                    .map(|i| i.instance)
                    .collect();
                // An emergency stop aborts this job; nothing else cancels it.
                let never = CancellationToken::new();
                core.start_and_wait_with(&name, &version, to - from, &running, deadline, &never)
                    .await
            } else {
                core.stop_version(&name, &version, Some(from - to)).await;
                Ok(())
            };
            let _ = reply.send(result);
            Outcome::Scaled
        });
    }
}
