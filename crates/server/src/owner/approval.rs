//! A deploy into an environment with `approval: { role, timeout }`: the deployment is
//! planned and recorded (`approval.requested`) but nothing starts; it waits in phase
//! `awaiting_approval` until an `approval.granted` signed by that role is in the ledger
//! (`gantry approve --as ROLE` writes it), then starts as any other deployment. When the
//! timeout passes first it ends `failed` (`approval.expired`) with nothing started. An
//! abort or an emergency stop ends the wait.
//!
//! The owner learns of the grant from the ledger itself, through the same rule table as
//! every reader: a watcher job follows the file and hands back the first admitted grant of
//! the deployment, or the deadline. So the approval is the signed entry, whoever appended
//! it, and a restart finds it (or the deadline) again ([`Owner::rewait`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gantry_deploy::{ApprovalStatus, Phase};
use gantry_ledger::{Follower, mentions};
use serde_json::json;

use super::{Job, Outcome, Owner};
use crate::core::By;
use crate::deployment::Dep;

/// How often the watcher looks at the ledger for a grant.
const POLL: Duration = Duration::from_millis(200);

/// How a wait for approval ended.
pub(crate) enum Decided {
    Granted(Grant),
    Expired,
}

/// The admitted `approval.granted` entry.
pub(crate) struct Grant {
    pub seq: u64,
    pub ts: String,
    pub by: String,
}

/// RFC 3339, UTC, to the second: how deadlines are written.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The approval `target`'s environment asks for: (env, role, timeout).
pub(crate) fn wanted(
    config: &gantry_config::Config,
    target: &str,
) -> Option<(String, String, Duration)> {
    let env = gantry_config::split_target(target).1?;
    let a = config.environment(env)?.approval.as_ref()?;
    Some((env.to_string(), a.role.value.clone(), a.timeout.as_std()))
}

/// The first admitted grant of deployment `id` of `service` in the ledger at `path`;
/// `Err` when the ledger could not be read (then it is read again later).
fn find_grant(path: &Path, service: &str, id: &str) -> Result<Option<Grant>, ()> {
    let entries = gantry_ledger::read_entries(path).map_err(|_| ())?.entries;
    let (_, admitted) = gantry_state::State::replay_admitted(&entries);
    Ok(admitted
        .into_iter()
        .find(|e| {
            e.kind == "approval.granted"
                && e.body.get("id").and_then(|v| v.as_str()) == Some(id)
                && e.body.get("service").and_then(|v| v.as_str()) == Some(service)
        })
        .map(|e| Grant {
            seq: e.seq,
            ts: e.ts.clone(),
            by: format!("{} ({})", e.actor.role, e.actor.id),
        }))
}

/// The watcher: the grant, else the deadline.
async fn watch(ledger: PathBuf, service: String, id: String, deadline: SystemTime) -> Outcome {
    let mut follow = Follower::new(&ledger);
    loop {
        let (l, s, i) = (ledger.clone(), service.clone(), id.clone());
        let mut next = follow.clone();
        let found = tokio::task::spawn_blocking(move || {
            // The ledger is replayed only when a grant was appended (cheap otherwise).
            let appended = next
                .read_lines(|line| mentions(line, b"approval.granted"))
                .map(|lines| !lines.is_empty());
            match appended {
                Ok(false) => (None, Some(next)),
                Ok(true) => match find_grant(&l, &s, &i) {
                    Ok(grant) => (grant, Some(next)),
                    // Unreadable now: those lines are looked at again.
                    Err(()) => (None, None),
                },
                Err(_) => (None, None),
            }
        })
        .await;
        if let Ok((grant, next)) = found {
            if let Some(grant) = grant {
                return Outcome::Approval(Decided::Granted(grant));
            }
            if let Some(next) = next {
                follow = next;
            }
        }
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        if left.is_zero() {
            return Outcome::Approval(Decided::Expired);
        }
        tokio::time::sleep(left.min(POLL)).await;
    }
}

/// `awaiting approval by ROLE (expires in 9m58s)`, as `ps` and the timeline say it.
pub(crate) fn waiting_text(a: &ApprovalStatus, now: SystemTime) -> String {
    let left = crate::gate::parse_ts(&a.deadline)
        .and_then(|d| d.duration_since(now).ok())
        .unwrap_or_default();
    format!(
        "awaiting approval by {} (expires in {})",
        a.role,
        gantry_config::approximate(left)
    )
}

impl Owner {
    /// Puts the new active deployment into `awaiting_approval` (recorded as
    /// `approval.requested`) and starts its watcher.
    pub(super) async fn request_approval(&mut self, env: String, role: String, timeout: Duration) {
        let deadline = SystemTime::now() + timeout;
        let approval = ApprovalStatus {
            role: role.clone(),
            env: env.clone(),
            deadline: rfc3339(deadline),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            state: "requested".into(),
            approved_by: None,
        };
        let Some(dep) = self.active.as_mut() else {
            return;
        };
        dep.status.phase = Phase::AwaitingApproval;
        dep.status.approval = Some(approval.clone());
        let base = gantry_config::split_target(&self.name).0.to_string();
        let body = dep.body(json!({
            "env": env, "version": dep.plan.to, "role": role,
            "timeout_ms": approval.timeout_ms, "deadline": approval.deadline,
            "steps": dep.status.plan_steps,
        }));
        let text = format!(
            "{}; `gantry approve {base} --env {env} --as {role}`",
            waiting_text(&approval, SystemTime::now())
        );
        self.record_on(By::Operator, "approval.requested", body, text)
            .await;
        self.spawn_watcher();
    }

    /// Starts (again) the watcher of the active deployment's approval.
    pub(super) fn spawn_watcher(&mut self) {
        let Some(dep) = self.active.as_ref() else {
            return;
        };
        let Some(deadline) = dep
            .status
            .approval
            .as_ref()
            .and_then(|a| crate::gate::parse_ts(&a.deadline))
        else {
            return;
        };
        let job = self.jobs.spawn(watch(
            self.core.ledger_path().to_path_buf(),
            self.name.clone(),
            dep.id.clone(),
            deadline,
        ));
        self.kinds.insert(job.id(), Job::Approval(dep.id.clone()));
        self.watcher = Some(job);
    }

    /// Stops the watcher (the wait ended otherwise: abort, emergency stop).
    pub(super) fn stop_watcher(&mut self) {
        if let Some(job) = self.watcher.take() {
            job.abort();
        }
    }

    fn awaiting(&self, id: &str) -> bool {
        self.active
            .as_ref()
            .is_some_and(|d| d.id == id && d.status.phase == Phase::AwaitingApproval)
    }

    /// The watcher of deployment `id` ended.
    pub(super) async fn approval_done(&mut self, id: String, outcome: Result<Outcome, String>) {
        if !self.awaiting(&id) {
            return;
        }
        self.watcher = None;
        match outcome {
            Ok(Outcome::Approval(Decided::Granted(g))) => self.granted(g).await,
            Ok(Outcome::Approval(Decided::Expired)) => self.expired().await,
            other => {
                // A watcher that died (it never should) is replaced: the wait goes on.
                if let Err(e) = other {
                    tracing::error!(deployment = %id, error = %e, "approval watcher failed; restarted");
                }
                self.spawn_watcher();
            }
        }
    }

    /// The grant is in the ledger: the deployment starts.
    async fn granted(&mut self, g: Grant) {
        let Some(dep) = self.active.as_mut() else {
            return;
        };
        if let Some(a) = dep.status.approval.as_mut() {
            a.state = "granted".into();
            a.approved_by = Some(g.by.clone());
        }
        dep.status.timeline.push(gantry_deploy::TimelineEvent {
            ts: g.ts,
            seq: g.seq,
            kind: "approval.granted".into(),
            text: format!("approved by {}", g.by),
        });
        self.start_approved(g.seq).await;
    }

    /// Records the start of the approved deployment and runs it.
    pub(super) async fn start_approved(&mut self, granted_seq: u64) {
        let Some(dep) = self.active.as_mut() else {
            return;
        };
        dep.status.phase = Phase::Started;
        let text = format!(
            "deploy {} → {} ({})",
            dep.plan.from.as_deref().unwrap_or("nothing"),
            dep.plan.to,
            dep.plan.strategy
        );
        let steps = dep.status.plan_steps.clone();
        self.enter(
            Phase::Started,
            By::Operator,
            json!({"steps": steps, "approval_seq": granted_seq}),
            text,
        )
        .await;
        if self.core.writable().is_err() {
            // Nothing could prove what it did: it does not run.
            self.finish(None);
            return;
        }
        self.spawn_active();
    }

    /// The deadline passed first: failed, nothing started.
    pub(super) async fn expired(&mut self) {
        let Some(dep) = self.active.as_mut() else {
            return;
        };
        let Some(a) = dep.status.approval.as_mut() else {
            return;
        };
        a.state = "expired".into();
        let a = a.clone();
        let reason = format!(
            "no approval by {} within {} (until {}); nothing was started",
            a.role,
            gantry_config::approximate(Duration::from_millis(a.timeout_ms)),
            a.deadline
        );
        let body = dep.body(json!({"env": a.env, "version": dep.plan.to, "role": a.role,
            "deadline": a.deadline, "reason": reason}));
        let failed = dep.body(json!({"reason": reason}));
        dep.status.reason = Some(reason.clone());
        let written = self
            .core
            .record_batch(vec![
                (By::System, "approval.expired".into(), body),
                (By::System, Phase::Failed.ledger_kind(), failed),
            ])
            .await
            .unwrap_or_default();
        let mut texts = [
            (
                "approval.expired".to_string(),
                format!("approval expired: {reason}"),
            ),
            (Phase::Failed.ledger_kind(), format!("failed: {reason}")),
        ]
        .into_iter();
        for e in &written {
            if let Some((kind, text)) = texts.next() {
                self.on_timeline(Some(e), kind, text);
            }
        }
        if let Some(d) = self.active.as_mut() {
            d.status.phase = Phase::Failed;
        }
        self.finish(None);
    }

    /// An abort of a deployment that awaits approval: it ends at once (nothing to stop).
    pub(super) async fn abort_awaiting(&mut self) {
        self.stop_watcher();
        let stable = self.stable.clone();
        self.enter(
            Phase::Aborted,
            By::Operator,
            json!({"reason": "aborted by the operator while awaiting approval", "rolled_back_to": stable}),
            "aborted while awaiting approval; nothing was started".into(),
        )
        .await;
        self.finish(None);
    }

    /// After a restart: the deployment `dep` awaited approval when the last control plane
    /// stopped. Granted meanwhile: it starts; else it waits again for what is left of its
    /// time (expiring at once when none is).
    pub(super) async fn rewait(&mut self, dep: Dep, granted: Option<u64>) {
        self.active = Some(dep);
        match granted {
            Some(seq) => self.start_approved(seq).await,
            None => self.spawn_watcher(),
        }
    }
}
