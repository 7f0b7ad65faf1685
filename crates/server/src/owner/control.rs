//! The control commands as an owner applies them: emergency stop, start after it, and
//! restore after a restart. Their long parts (stopping every instance, starting the
//! stable version) are jobs; the command is answered when its job is done.

use std::sync::Arc;

use gantry_config::OnRestart;
use gantry_deploy::{InstancePhase, Phase, plan_deploy};
use serde_json::json;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{Job, Outcome, Owner};
use crate::ServerError;
use crate::command::{Control, Reply, RestorePlan, Restored, Stopped};
use crate::core::By;
use crate::deployment::Dep;

/// A control command waiting for its job.
pub(super) enum Waiting {
    Stop {
        reply: oneshot::Sender<Stopped>,
        aborted: Vec<String>,
    },
    Start {
        reply: Reply<Option<String>>,
        version: String,
    },
    Restore {
        reply: oneshot::Sender<Restored>,
        report: Restored,
        version: String,
        resume: Option<Box<Dep>>,
    },
}

impl Owner {
    pub(super) async fn control(&mut self, c: Control) {
        match c {
            Control::Stop { reply } => self.emergency_stop(reply).await,
            Control::StartInstances { reply } => self.start_instances(reply),
            Control::Reopen { reply } => {
                self.stopped = false;
                let stable = self.stable.clone();
                self.publish(|t| t.weights = stable.iter().map(|v| (v.clone(), 100)).collect());
                self.answer(reply, ());
            }
            Control::Halt { reply } => {
                self.halted = true;
                self.answer(reply, ());
            }
            Control::Restore { plan, reply } => self.restore(*plan, reply).await,
        }
    }

    pub(super) fn spawn_control(&mut self, job: impl Future<Output = Outcome> + Send + 'static) {
        let handle = self.jobs.spawn(job);
        self.kinds.insert(handle.id(), Job::Control);
    }

    /// Final for everything in flight: traffic refused at once, every job of this service
    /// (a deployment, an automatic rollback, the restore, a start) cancelled where it is
    /// and gone before anything else happens, the deployment aborted, every instance
    /// stopped. Never refused, not even when the ledger cannot be written: stopping is
    /// always safe.
    async fn emergency_stop(&mut self, reply: oneshot::Sender<Stopped>) {
        self.halted = true;
        self.stopped = true;
        self.publish(|_| {});
        self.jobs.abort_all();
        while self.jobs.join_next().await.is_some() {}
        self.kinds.clear();
        self.watcher = None;
        for (_, ask) in self.held.drain(..) {
            ask.refuse();
        }
        match self.waiting.take() {
            Some(Waiting::Restore { reply, report, .. }) => {
                self.restoring = false;
                self.answer(reply, report);
            }
            Some(Waiting::Start { reply, version }) => self.answer(
                reply,
                Err(ServerError::Conflict(format!(
                    "an emergency stop ended the start of {} {version}",
                    self.name
                ))),
            ),
            Some(Waiting::Stop { reply, aborted }) => self.answer(
                reply,
                Stopped {
                    instances: 0,
                    aborted,
                },
            ),
            None => {}
        }
        let mut aborted = Vec::new();
        if let Some(dep) = &self.active {
            dep.cancel.cancel();
            if !dep.status.is_done() {
                aborted.push(dep.id.clone());
                self.enter(
                    Phase::Aborted,
                    By::Operator,
                    json!({"reason": "emergency stop"}),
                    "aborted by emergency stop; stopped where it was".into(),
                )
                .await;
            }
            self.finish(None);
        }
        let core = Arc::clone(&self.core);
        let name = self.name.clone();
        self.spawn_control(async move {
            let mut stopped = 0;
            for i in core.driver.instances(&name) {
                stopped += 1;
                let _ = core.driver.stop(&name, &i.instance).await;
            }
            Outcome::Swept(stopped)
        });
        self.waiting = Some(Waiting::Stop { reply, aborted });
    }

    /// Starts the stable version's missing instances (counting any still running), so
    /// that the service has exactly its recorded desired state, and waits until ready.
    fn start_instances(&mut self, reply: Reply<Option<String>>) {
        if let Err(e) = self.admit() {
            return self.answer(reply, Err(e));
        }
        if !self.stopped {
            return self.answer(
                reply,
                Err(ServerError::Conflict(
                    "no emergency stop is in force".into(),
                )),
            );
        }
        self.halted = false;
        let Some(version) = self.stable.clone() else {
            return self.answer(reply, Ok(None));
        };
        let svc = match self.core.service_config(&self.name) {
            Ok(s) => s.clone(),
            Err(e) => return self.answer(reply, Err(e)),
        };
        let running: Vec<String> = self
            .core
            .driver
            .instances(&self.name)
            .into_iter()
            .filter(|i| i.version == version && i.phase != InstancePhase::Stopping)
            .map(|i| i.instance)
            .collect();
        let missing = (*svc.instances)
            .max(1)
            .saturating_sub(u32::try_from(running.len()).unwrap_or(u32::MAX));
        let deadline = svc.strategy.progress_deadline().as_std();
        let core = Arc::clone(&self.core);
        let (name, v) = (self.name.clone(), version.clone());
        self.spawn_control(async move {
            // An emergency stop aborts this job; nothing else cancels it.
            let never = CancellationToken::new();
            Outcome::Started(
                core.start_and_wait_with(&name, &v, missing, &running, deadline, &never)
                    .await,
            )
        });
        self.waiting = Some(Waiting::Start { reply, version });
    }

    /// Settles the deployment a restart interrupted (rolled back, or resumed with
    /// `on_restart: resume`) and brings the stable version back; mutating calls are held
    /// until this is done.
    async fn restore(&mut self, plan: RestorePlan, reply: oneshot::Sender<Restored>) {
        let mut report = Restored::default();
        let svc = match self.core.service_config(&self.name) {
            Ok(s) => s,
            Err(_) => {
                self.restoring = false;
                return self.answer(reply, report);
            }
        };
        let emergency = plan.emergency || self.stopped;
        let mut resume = None;
        if let Some(d) = plan
            .interrupted
            .as_ref()
            .filter(|d| d.approval.is_some() && !emergency)
        {
            // Nothing of it had started: it waits again (or starts, if approved meanwhile).
            self.after_restore = Some((
                Box::new(self.awaited(d, &svc)),
                d.approval.as_ref().and_then(|a| a.granted_seq),
            ));
            report
                .settled
                .push(json!({"id": d.id, "action": "await_approval"}));
        } else if let Some(d) = plan.interrupted {
            let mut dep = Dep::new(
                d.id.clone(),
                plan_deploy(&self.name, &svc, d.from.as_deref(), &d.to, &svc.strategy),
                svc.clone(),
            );
            if svc.on_restart == OnRestart::Resume && !emergency && d.strategy != "rollback" {
                dep.status.phase = Phase::Progressing;
                resume = Some(dep);
            } else {
                self.active = Some(dep);
                if let Some(from) = d.from.clone() {
                    self.enter(Phase::RolledBack, By::System,
                        json!({"to": from, "reason": "the control plane restarted during the deployment"}),
                        format!("rolled back to {from} after a control-plane restart")).await;
                    self.stable = Some(from);
                } else {
                    self.enter(
                        Phase::Failed,
                        By::System,
                        json!({"reason": "the control plane restarted during the first deployment"}),
                        "failed: control plane restarted".into(),
                    )
                    .await;
                }
                // Its status carries the timeline from before the restart on.
                if let Some(now) = self.active.take() {
                    let mut status = self.past.get(&d.id).cloned().unwrap_or(now.status.clone());
                    if self.past.contains_key(&d.id) {
                        status.phase = now.status.phase;
                        status.reason = now.status.reason;
                        status.waiting_for_promote = false;
                        status.timeline.extend(now.status.timeline);
                    }
                    Arc::make_mut(&mut self.finished).insert(d.id.clone(), status);
                }
            }
            report.settled.push(
                json!({"id": d.id, "action": if resume.is_some() { "resume" } else { "rollback" }}),
            );
        }
        if emergency {
            self.publish(|_| {});
            self.restoring = false;
            return self.answer(reply, report);
        }
        let Some(version) = self.stable.clone() else {
            return self.restored(reply, report, resume.map(Box::new)).await;
        };
        let missing = (*svc.instances)
            .max(1)
            .saturating_sub(u32::try_from(plan.adopted.len()).unwrap_or(u32::MAX));
        let deadline = svc.strategy.progress_deadline().as_std();
        let core = Arc::clone(&self.core);
        let (name, v) = (self.name.clone(), version.clone());
        self.spawn_control(async move {
            let never = CancellationToken::new();
            Outcome::Restored(
                core.start_and_wait_with(&name, &v, missing, &plan.adopted, deadline, &never)
                    .await,
            )
        });
        self.waiting = Some(Waiting::Restore {
            reply,
            report,
            version,
            resume: resume.map(Box::new),
        });
    }

    /// The deployment `d` that awaited approval before the restart, rebuilt with the
    /// strategy it was asked for and its timeline from the ledger.
    fn awaited(&self, d: &crate::command::Interrupted, svc: &gantry_config::Service) -> Dep {
        let strategy = serde_json::from_value(json!(d.strategy))
            .ok()
            .and_then(|k| super::operator::strategy_for(svc, Some(k)).ok())
            .unwrap_or_else(|| svc.strategy.clone());
        let mut dep = Dep::new(
            d.id.clone(),
            plan_deploy(&self.name, svc, d.from.as_deref(), &d.to, &strategy),
            svc.clone(),
        );
        if let Some(past) = self.past.get(&d.id) {
            dep.status.timeline = past.timeline.clone();
            dep.status.approval = past.approval.clone();
        }
        dep.status.phase = Phase::AwaitingApproval;
        if dep.status.approval.is_none()
            && let Some(a) = &d.approval
        {
            dep.status.approval = Some(gantry_deploy::ApprovalStatus {
                role: a.role.clone(),
                env: a.env.clone(),
                deadline: a.deadline.clone(),
                timeout_ms: a.timeout_ms,
                state: a.state.clone(),
                approved_by: a.approved_by.clone(),
            });
        }
        dep
    }

    /// Restore is done: the interrupted deployment resumes (if it does), calls are taken.
    pub(super) async fn restored(
        &mut self,
        reply: oneshot::Sender<Restored>,
        report: Restored,
        resume: Option<Box<Dep>>,
    ) {
        if let Some((dep, granted)) = self.after_restore.take() {
            self.rewait(*dep, granted).await;
        }
        if let Some(dep) = resume {
            self.active = Some(*dep);
            self.enter(
                Phase::Progressing,
                By::System,
                json!({"resumed_after_restart": true}),
                "resumed after a control-plane restart".into(),
            )
            .await;
            self.spawn_active();
        }
        self.restoring = false;
        self.answer(reply, report);
    }

    /// A control job is done: answer the command that waits for it.
    pub(super) async fn control_done(&mut self, outcome: Result<Outcome, String>) {
        match (self.waiting.take(), outcome) {
            (Some(Waiting::Stop { reply, aborted }), Ok(Outcome::Swept(instances))) => {
                self.answer(reply, Stopped { instances, aborted });
            }
            (Some(Waiting::Stop { reply, aborted }), _) => {
                self.answer(
                    reply,
                    Stopped {
                        instances: 0,
                        aborted,
                    },
                );
            }
            (Some(Waiting::Start { reply, version }), outcome) => {
                let result = match outcome {
                    Ok(Outcome::Started(r)) => r,
                    Ok(_) => Err("the start job ended unexpectedly".into()),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => {
                        let what = format!("{} {version}", self.name);
                        self.answer(reply, Ok(Some(what)));
                    }
                    Err(e) => {
                        self.halted = true;
                        let why = format!(
                            "{} {version} did not become ready: {e}; still stopped",
                            self.name
                        );
                        self.answer(reply, Err(ServerError::Conflict(why)));
                    }
                }
            }
            (
                Some(Waiting::Restore {
                    reply,
                    mut report,
                    version,
                    resume,
                }),
                outcome,
            ) => {
                let result = match outcome {
                    Ok(Outcome::Restored(r)) => r,
                    Ok(_) => Err("the restore job ended unexpectedly".into()),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => {
                        let all = [(version.clone(), 100)].into_iter().collect();
                        self.shift(false, &all, false).await;
                        report.restored.push(format!("{} {version}", self.name));
                    }
                    Err(e) => {
                        tracing::error!(service = %self.name, error = %e, "stable version did not come back");
                    }
                }
                self.restored(reply, report, resume).await;
            }
            (None, _) => {}
        }
    }
}
