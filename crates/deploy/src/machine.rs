//! The deployment state machine: phases, which operator operations each allows, and the
//! status the control plane reports (and `gantry deploy --wait` follows).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::{Figures, Verdict};

/// Where a deployment is. Each phase it enters is a `deployment.state.<phase>` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for the signed approval its environment's `approval:` asks for; nothing
    /// has started yet (an `approval.requested` entry, not a `deployment.state.*` one).
    AwaitingApproval,
    Started,
    Progressing,
    Paused,
    Promoted,
    Succeeded,
    /// The new version failed (analysis, readiness deadline, crash loop); a rollback follows
    /// when there is a stable version to return to.
    Failed,
    RolledBack,
    Aborted,
}

/// Operator operations on a running deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// End the current pause (or the next one) and go on to the next step; analysis
    /// still applies to later pauses.
    Promote,
    /// Skip every remaining step up to the promotion: all traffic to the new version now.
    PromoteFull,
    Pause,
    Resume,
    Abort,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::AwaitingApproval => "awaiting_approval",
            Phase::Started => "started",
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Promoted => "promoted",
            Phase::Succeeded => "succeeded",
            Phase::Failed => "failed",
            Phase::RolledBack => "rolled_back",
            Phase::Aborted => "aborted",
        }
    }

    pub fn from_name(name: &str) -> Option<Phase> {
        [
            Phase::AwaitingApproval,
            Phase::Started,
            Phase::Progressing,
            Phase::Paused,
            Phase::Promoted,
            Phase::Succeeded,
            Phase::Failed,
            Phase::RolledBack,
            Phase::Aborted,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// The ledger kind recording entry into this phase.
    pub fn ledger_kind(self) -> String {
        format!("deployment.state.{}", self.name())
    }

    /// No further transitions (a `Failed` deployment still rolls back, so it is not).
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::RolledBack | Phase::Aborted)
    }

    /// Whether `op` is allowed now; the error says why not.
    pub fn allows(self, op: Op) -> Result<(), String> {
        let ok = match op {
            Op::Promote | Op::PromoteFull => {
                matches!(self, Phase::Started | Phase::Progressing | Phase::Paused)
            }
            Op::Pause => matches!(self, Phase::Started | Phase::Progressing),
            Op::Resume => self == Phase::Paused,
            Op::Abort => !self.is_terminal() && self != Phase::Failed,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "cannot {} a deployment that is {}",
                match op {
                    Op::Promote | Op::PromoteFull => "promote",
                    Op::Pause => "pause",
                    Op::Resume => "resume",
                    Op::Abort => "abort",
                },
                self.name().replace('_', " ")
            ))
        }
    }
}

/// One line of a deployment's timeline (mirrors its ledger entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub ts: String,
    pub seq: u64,
    pub kind: String,
    pub text: String,
}

/// The last analysis of the new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastAnalysis {
    pub figures: Figures,
    pub baseline: Option<Figures>,
    pub verdict: Verdict,
    pub failures: u32,
    pub failure_limit: u32,
    /// The `analysis.prometheus` query's part of the verdict, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<Box<crate::analysis_prometheus::PromVerdict>>,
}

/// The pause step a deployment is in: how long it holds, how long it has held, and the
/// evidence so far — what `ps --watch` shows and an early `promote` skips.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PauseView {
    /// The step's duration; `None`: until `gantry promote`.
    pub millis: Option<u64>,
    /// Held so far (an operator's pause not counted), as of the last report.
    pub held_ms: u64,
    /// Whether the new version is judged meanwhile.
    pub analyse: bool,
    /// Analysis windows judged in this step, and how many passed.
    pub windows: u32,
    pub passed: u32,
}

/// The approval a deployment into an environment with `approval:` waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStatus {
    /// The role whose signed `gantry approve` lets it proceed.
    pub role: String,
    pub env: String,
    /// When the wait ends in `approval.expired` (RFC 3339, UTC).
    pub deadline: String,
    pub timeout_ms: u64,
    /// `requested`, `granted` or `expired`.
    pub state: String,
    /// `role (agent id)` of the approval, once granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

impl ApprovalStatus {
    pub fn expired(&self) -> bool {
        self.state == "expired"
    }
}

/// What the control plane reports about one deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    pub id: String,
    pub service: String,
    pub from: Option<String>,
    pub to: String,
    pub strategy: String,
    pub phase: Phase,
    /// 1-based index of the current step, out of `steps`.
    pub step: usize,
    pub steps: usize,
    pub current: String,
    /// Waiting in a pause without duration for `gantry promote`.
    pub waiting_for_promote: bool,
    /// Paused by `gantry pause`.
    pub operator_paused: bool,
    pub weights: BTreeMap<String, u32>,
    /// Why it failed, rolled back or was aborted.
    pub reason: Option<String>,
    pub analysis: Option<LastAnalysis>,
    pub timeline: Vec<TimelineEvent>,
    /// The pause step it is in, if any.
    #[serde(default)]
    pub pause: Option<PauseView>,
    /// Every step of its plan as text (`step` counts from 1 in it).
    #[serde(default)]
    pub plan_steps: Vec<String>,
    /// The approval its environment asks for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalStatus>,
}

impl DeploymentStatus {
    /// Over: a final phase, or failed with nothing to roll back (a first deploy, or one
    /// whose approval expired before anything started).
    pub fn is_done(&self) -> bool {
        self.phase.is_terminal()
            || (self.phase == Phase::Failed
                && (self.from.is_none() || self.approval.as_ref().is_some_and(|a| a.expired())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_follow_the_phase() {
        assert!(Phase::Progressing.allows(Op::Pause).is_ok());
        assert!(Phase::Paused.allows(Op::Resume).is_ok());
        assert!(Phase::Paused.allows(Op::Promote).is_ok());
        assert_eq!(
            Phase::RolledBack.allows(Op::Promote).unwrap_err(),
            "cannot promote a deployment that is rolled back"
        );
        assert!(Phase::Progressing.allows(Op::Resume).is_err());
        assert!(Phase::Failed.allows(Op::Abort).is_err());
        assert!(Phase::Succeeded.is_terminal() && !Phase::Failed.is_terminal());
        assert!(Phase::AwaitingApproval.allows(Op::Abort).is_ok());
        assert_eq!(
            Phase::AwaitingApproval.allows(Op::Promote).unwrap_err(),
            "cannot promote a deployment that is awaiting approval"
        );
        assert!(Phase::AwaitingApproval.allows(Op::Pause).is_err());
    }

    #[test]
    fn names_round_trip() {
        for p in [Phase::Started, Phase::RolledBack, Phase::Aborted] {
            assert_eq!(Phase::from_name(p.name()), Some(p));
        }
        assert_eq!(
            Phase::RolledBack.ledger_kind(),
            "deployment.state.rolled_back"
        );
    }
}
