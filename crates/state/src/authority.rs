//! Who may say what: the one table of which signer may write each kind gantry interprets.
//!
//! The ledger proves *who* signed an entry; this table says whether they *may* say it. Every
//! reader that acts on entries applies it through the fold ([`crate::State::apply`]): the
//! state, the pipeline's checkpoint watcher, the control plane's recovery and history,
//! `runs`/`logs`, and `ledger verify` (which reports what it rejected). An entry by the
//! wrong signer is kept in the ledger — it is a genuine record of an attempt — but changes
//! nothing.
//!
//! The table knows roles, not keys: that an entry's `actor` is the registered holder of the
//! key that signed it is `ledger verify`'s check (signatures, key validity at that seq).

use gantry_ledger::{Entry, SYSTEM_ROLE};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The role that runs pipelines and operates deployments.
pub const OPERATOR_ROLE: &str = "operator";

/// The roles that may approve (clear a veto).
pub const APPROVER_ROLES: [&str; 2] = ["verifier", OPERATOR_ROLE];

/// Who may sign entries of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Only the system key (role `gantry`).
    System,
    /// The `operator` role, or the system key (the control plane's own observations, and
    /// runs on a machine without the operator's key).
    Operator,
    /// The role that the `checkpoint.requested` of the same run and stage names.
    CheckpointRole,
    /// Any registered signer: the entry only says what its writer found.
    AnySigner,
    /// A role that may clear a veto: the verifier (the policy gate's role) or the
    /// operator. Until role permissions land these two hold `approve`.
    Approver,
    /// The role that the `approval.requested` of the same deployment names, while that
    /// deployment still awaits it.
    ApprovalRole,
}

impl Owner {
    /// How the rule reads in messages and in FORMAT.md.
    pub fn describe(self) -> &'static str {
        match self {
            Owner::System => "the system key (role gantry)",
            Owner::Operator => "the operator role or the system key",
            Owner::CheckpointRole => "the role the checkpoint names",
            Owner::AnySigner => "any registered signer",
            Owner::Approver => "the verifier or operator role",
            Owner::ApprovalRole => "the role the approval request names",
        }
    }
}

/// One row: a kind (`checkpoint.signed`) or a namespace (`checkpoint.*`), and its owner.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub kinds: &'static str,
    pub owner: Owner,
    /// Which part of gantry writes these entries.
    pub writer: &'static str,
}

const fn rule(kinds: &'static str, owner: Owner, writer: &'static str) -> Rule {
    Rule {
        kinds,
        owner,
        writer,
    }
}

/// The rule table, first match wins: exact kinds before their namespace. Every namespace
/// here is gantry's own; `ledger append` refuses all of them. Namespaces that nothing
/// writes yet are reserved for the features that will, owned by the system key until then.
pub const RULES: &[Rule] = &[
    rule(
        "ledger.recovered",
        Owner::AnySigner,
        "the writer that found a torn tail",
    ),
    rule("ledger.*", Owner::System, "the ledger (genesis, seals)"),
    rule(
        "agent.*",
        Owner::System,
        "`gantry agent` (registrations, rotations)",
    ),
    rule(
        "checkpoint.signed",
        Owner::CheckpointRole,
        "the deciding agent, `gantry sign`, `gantry serve` (API and MCP `sign`)",
    ),
    rule(
        "checkpoint.vetoed",
        Owner::CheckpointRole,
        "the deciding agent, `gantry sign --veto`, `gantry serve` (API and MCP `veto`)",
    ),
    rule(
        "checkpoint.*",
        Owner::Operator,
        "`gantry run` (requested, timed_out), `gantry sign` (refused)",
    ),
    rule("pipeline.*", Owner::Operator, "`gantry run`, `gantry runs`"),
    rule("stage.*", Owner::Operator, "`gantry run`"),
    rule("step.*", Owner::Operator, "`gantry run`"),
    rule("artefacts.*", Owner::Operator, "`gantry run`"),
    rule("budget.*", Owner::Operator, "`gantry run`"),
    rule("deployment.*", Owner::Operator, "`gantry serve`"),
    rule("instance.*", Owner::Operator, "`gantry serve`"),
    rule("traffic.*", Owner::Operator, "`gantry serve`"),
    rule("rollback.*", Owner::Operator, "`gantry serve`"),
    rule("control.*", Owner::Operator, "`gantry serve`"),
    rule(
        "config.reloaded",
        Owner::Operator,
        "`gantry serve` (`gantry reload`, SIGHUP)",
    ),
    rule("scale.*", Owner::Operator, "`gantry serve` (scale.changed)"),
    rule("status.*", Owner::System, "`gantry serve` (status.changed)"),
    rule(
        "alert.*",
        Owner::System,
        "`gantry serve` (alert.firing, alert.resolved)",
    ),
    rule("notify.*", Owner::System, "reserved: notifications"),
    rule(
        "decision.veto",
        Owner::AnySigner,
        "`gantry policy check` (as the verifier), `gantry veto`, `POST /v1/decisions/veto`",
    ),
    rule(
        "decision.approve",
        Owner::Approver,
        "`gantry approve`, `POST /v1/decisions/approve`",
    ),
    rule("decision.*", Owner::System, "reserved: the policy gate"),
    rule(
        "policy.overridden",
        Owner::Operator,
        "`gantry serve` (a deploy let past its environment's failing policy, with the caller and reason)",
    ),
    rule("policy.*", Owner::System, "reserved: the policy gate"),
    rule(
        "approval.granted",
        Owner::ApprovalRole,
        "`gantry approve --as ROLE`, `POST /v1/services/{service}/approve` (a deploy awaiting its environment's approval)",
    ),
    rule(
        "approval.*",
        Owner::Operator,
        "`gantry serve` (requested, expired)",
    ),
    rule("environment.*", Owner::System, "reserved: environments"),
    rule(
        "access.denied",
        Owner::System,
        "`gantry serve` (API and MCP calls refused for their token or role)",
    ),
    rule(
        "access.allowed",
        Owner::System,
        "`gantry serve` (a mutating call let through for a role with `actions_per_hour`: role, token, route)",
    ),
    rule(
        "access.usage.reported",
        Owner::System,
        "`gantry serve` (agent tokens a role reported: `POST /v1/agents/usage`, `X-Gantry-Agent-Tokens`)",
    ),
    rule(
        "access.budget.exceeded",
        Owner::System,
        "`gantry serve` (a call refused over its role's budget: budget, limit, used, resets_at)",
    ),
    rule(
        "access.token.*",
        Owner::System,
        "`gantry token` (created, revoked)",
    ),
    rule("access.*", Owner::System, "reserved: role tokens"),
    rule("config.*", Owner::System, "reserved: config reload"),
    rule(
        "release.*",
        Owner::System,
        "release.built: a git tag built for releases_from",
    ),
    rule("build.*", Owner::System, "reserved: releases from git"),
];

fn matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// The rule for a kind; `None` for kinds outside gantry's namespaces, which are free for
/// agents to write with `ledger append` and which gantry never interprets.
pub fn rule_for(kind: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| matches(r.kinds, kind))
}

/// An entry the table refused: kept in the ledger, ignored by the fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub seq: u64,
    pub kind: String,
    /// `role/id` of the signer.
    pub signer: String,
    /// The rule's kinds, e.g. `checkpoint.signed`.
    pub rule: String,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seq {} {} signed by {}: {}",
            self.seq, self.kind, self.signer, self.reason
        )
    }
}

/// Judges one entry against the table, given the state folded from the entries before it.
pub(crate) fn judge(state: &crate::State, entry: &Entry) -> Result<(), Rejection> {
    let Some(rule) = rule_for(&entry.kind) else {
        return Ok(());
    };
    let role = entry.actor.role.as_str();
    let refuse = |reason: String| Rejection {
        seq: entry.seq,
        kind: entry.kind.clone(),
        signer: format!("{}/{}", entry.actor.role, entry.actor.id),
        rule: rule.kinds.to_string(),
        reason,
    };
    let allowed = match rule.owner {
        Owner::AnySigner => true,
        Owner::System => role == SYSTEM_ROLE,
        Owner::Operator => role == OPERATOR_ROLE || role == SYSTEM_ROLE,
        Owner::Approver => APPROVER_ROLES.contains(&role),
        Owner::ApprovalRole => {
            let wanted = approval_role(state, &entry.body).map_err(refuse)?;
            if role != wanted {
                return Err(refuse(format!(
                    "only the role the approval request names ({wanted}) may approve it, not {role}"
                )));
            }
            true
        }
        Owner::CheckpointRole => {
            let wanted = checkpoint_role(state, &entry.body).map_err(refuse)?;
            if role != wanted {
                return Err(refuse(format!(
                    "only the role the checkpoint names ({wanted}) may decide it, not {role}"
                )));
            }
            true
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(refuse(format!(
            "{} kinds may be written only by {}",
            rule.kinds,
            rule.owner.describe()
        )))
    }
}

/// The role the approval of the entry's deployment (`service`, `id`) waits for.
fn approval_role(state: &crate::State, body: &Value) -> Result<String, String> {
    let service = crate::str_field(body, "service");
    let id = crate::str_field(body, "id");
    state
        .services
        .services
        .get(&service)
        .and_then(|s| s.deployment.as_ref())
        .filter(|d| d.id == id && d.awaiting_approval())
        .and_then(|d| d.approval.as_ref())
        .filter(|a| a.state == "requested")
        .map(|a| a.role.clone())
        .ok_or_else(|| format!("no deployment '{id}' of '{service}' awaits approval"))
}

/// The role named by the latest `checkpoint.requested` of the entry's run and stage.
fn checkpoint_role(state: &crate::State, body: &Value) -> Result<String, String> {
    let run = crate::str_field(body, "run");
    let stage = crate::str_field(body, "stage");
    state
        .runs
        .runs
        .get(&run)
        .and_then(|r| r.checkpoints.iter().rev().find(|c| c.stage == stage))
        .map(|c| c.role.clone())
        .ok_or_else(|| format!("no checkpoint of stage '{stage}' was requested in run '{run}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_kinds_come_before_their_namespace() {
        assert_eq!(
            rule_for("checkpoint.signed").unwrap().owner,
            Owner::CheckpointRole
        );
        assert_eq!(
            rule_for("checkpoint.requested").unwrap().owner,
            Owner::Operator
        );
        assert_eq!(
            rule_for("ledger.recovered").unwrap().owner,
            Owner::AnySigner
        );
        assert_eq!(rule_for("ledger.sealed").unwrap().owner, Owner::System);
    }

    use crate::test_entry as entry;

    #[test]
    fn a_checkpoint_is_decided_only_by_the_role_it_names() {
        use serde_json::json;
        let run = json!({"run": "r", "pid": 1});
        let cp = json!({"run": "r", "stage": "build", "role": "approver", "mode": "manual"});
        let decision = json!({"run": "r", "stage": "build", "summary": "forged"});
        let entries = [
            entry(1, "operator", "pipeline.state.started", run),
            entry(2, "operator", "checkpoint.requested", cp),
            entry(3, "planner", "checkpoint.signed", decision.clone()),
            entry(4, "gantry", "checkpoint.vetoed", decision.clone()),
        ];
        let state = crate::State::replay(&entries);
        assert_eq!(state.runs.runs["r"].checkpoints[0].status, "waiting");
        let reasons: Vec<_> = state
            .rejected
            .iter()
            .map(|r| (r.seq, r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    3,
                    "only the role the checkpoint names (approver) may decide it, not planner"
                ),
                (
                    4,
                    "only the role the checkpoint names (approver) may decide it, not gantry"
                ),
            ]
        );
        let mut state = state;
        assert!(state.apply(&entry(5, "approver", "checkpoint.signed", decision)));
        assert_eq!(state.runs.runs["r"].checkpoints[0].status, "signed");
    }

    #[test]
    fn operator_kinds_by_another_role_change_nothing() {
        use serde_json::json;
        let entries = [
            entry(1, "planner", "control.emergency_stop", json!({})),
            entry(2, "planner", "pipeline.state.started", json!({"run": "r"})),
            entry(
                3,
                "verifier",
                "agent.registered",
                json!({"role": "x", "id": "X"}),
            ),
            entry(4, "planner", "plan.drafted", json!({"release": "v2"})),
        ];
        let state = crate::State::replay(&entries);
        assert!(!state.services.emergency_stop);
        assert!(state.runs.runs.is_empty());
        assert!(!state.agents.contains_key("x"));
        assert_eq!(
            state.rejected.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(
            state.rejected[0].reason,
            "control.* kinds may be written only by the operator role or the system key"
        );
        // The head still moves: the entries are in the chain.
        assert_eq!(state.ledger.entries, 4);
        assert_eq!(state.kinds.get("plan.drafted"), Some(&1));
    }

    #[test]
    fn an_approval_counts_only_from_the_role_the_request_names_while_it_waits() {
        use serde_json::json;
        let req = json!({"id": "web@production-1", "service": "web@production", "env": "production",
            "version": "v1", "role": "verifier", "deadline": "2026-12-02T08:00:00Z", "timeout_ms": 60000});
        let grant = json!({"id": "web@production-1", "service": "web@production"});
        let entries = [
            entry(1, "operator", "approval.requested", req),
            entry(2, "operator", "approval.granted", grant.clone()),
            entry(3, "verifier", "approval.granted", grant.clone()),
            entry(4, "verifier", "approval.granted", grant),
        ];
        let state = crate::State::replay(&entries);
        let d = state.services.services["web@production"]
            .deployment
            .clone()
            .unwrap();
        let a = d.approval.clone().unwrap();
        assert_eq!((a.state.as_str(), a.granted_seq), ("granted", Some(3)));
        assert!(d.in_progress() && d.awaiting_approval());
        let reasons: Vec<_> = state
            .rejected
            .iter()
            .map(|r| (r.seq, r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    2,
                    "only the role the approval request names (verifier) may approve it, not operator"
                ),
                (
                    4,
                    "no deployment 'web@production-1' of 'web@production' awaits approval"
                ),
            ]
        );
    }

    /// FORMAT.md's table is this table: a row changed here must change there.
    #[test]
    fn format_md_documents_every_rule() {
        let doc = include_str!("../../ledger/FORMAT.md");
        for r in RULES {
            let row = format!("| `{}` | {} | {} |", r.kinds, r.owner.describe(), r.writer);
            assert!(doc.contains(&row), "FORMAT.md lacks the row\n{row}");
        }
    }

    #[test]
    fn kinds_outside_gantrys_namespaces_are_free() {
        for kind in ["plan.drafted", "x.note", "review.done", "deploymentx.note"] {
            assert!(rule_for(kind).is_none(), "{kind}");
        }
        for kind in [
            "control.emergency_stop",
            "status.changed",
            "step.state.succeeded",
        ] {
            assert!(rule_for(kind).is_some(), "{kind}");
        }
    }
}
