//! What an owner does when one of its jobs ends — above all when it panicked: the
//! deployment is failed and rolled back by a new job, and the owner goes on serving.

use gantry_deploy::Phase;
use serde_json::json;
use tokio::task::{Id, JoinError};

use super::{Job, Outcome, Owner};
use crate::core::By;
use crate::execute::fail_and_roll_back;

fn panic_message(e: JoinError) -> String {
    match e.try_into_panic() {
        Ok(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "no message".into()),
        Err(e) => e.to_string(),
    }
}

impl Owner {
    pub(super) async fn job_done(&mut self, done: Result<(Id, Outcome), JoinError>) {
        let (kind, outcome) = match done {
            Ok((id, outcome)) => (self.kinds.remove(&id), Ok(outcome)),
            Err(e) => (self.kinds.remove(&e.id()), Err(panic_message(e))),
        };
        match kind {
            Some(Job::Deployment(id)) => {
                if let Err(what) = outcome {
                    self.deployment_panicked(id, what).await;
                }
            }
            Some(Job::Control) => self.control_done(outcome).await,
            Some(Job::Approval(id)) => self.approval_done(id, outcome).await,
            None => {}
        }
    }

    /// The deployment's job panicked: it is failed (with the panic as its reason) and
    /// rolled back by a new job. If that panics too, the deployment ends failed with the
    /// service on its previous stable version.
    async fn deployment_panicked(&mut self, id: String, what: String) {
        let Some(dep) = self.active.as_mut().filter(|d| d.id == id) else {
            return;
        };
        for (_, ask) in self.held.drain(..) {
            ask.refuse();
        }
        if dep.recovering {
            tracing::error!(deployment = %id, "rolling back after a panic panicked too");
            let from = dep.plan.from.clone();
            self.enter(
                Phase::Failed,
                By::System,
                json!({"reason": "the deployment task and its rollback panicked"}),
                "failed: the deployment task and its rollback panicked".into(),
            )
            .await;
            self.finish(from);
            return;
        }
        dep.recovering = true;
        // A pause of the panicked job must not hold its rollback.
        dep.request(|r| r.pause = false);
        let reason = format!("the deployment task panicked: {what}");
        tracing::error!(deployment = %id, %reason);
        let Some(exec) = self.exec() else { return };
        let job = self.jobs.spawn(async move {
            fail_and_roll_back(&exec, reason, None).await;
            Outcome::Deployment
        });
        self.kinds.insert(job.id(), Job::Deployment(id));
    }
}
