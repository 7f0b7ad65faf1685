//! What counts against a role's budgets, read back from ledger entries, so the count is
//! the same after a restart and includes what other writers (a pipeline run) recorded.
//!
//! Only entries by the signer that owns their kind count (the rule table of
//! `gantry_state::authority`): `access.*` by the system key, `deployment.*` by the
//! operator or the system key, a checkpoint decision by the role it speaks for. A forged
//! entry can therefore never spend another role's budget.

use gantry_ledger::{Entry, SYSTEM_ROLE};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An allowed mutating API call of a role with a budget (`actions_per_hour`).
pub const KIND_ALLOWED: &str = "access.allowed";
/// Tokens an agent reported having used (`tokens_per_day`).
pub const KIND_USAGE: &str = "access.usage.reported";
/// A call refused because a budget was spent.
pub const KIND_EXCEEDED: &str = "access.budget.exceeded";
/// A deployment that started, naming the API caller that asked for it (`deploys_per_day`).
pub const KIND_DEPLOY_STARTED: &str = "deployment.state.started";

/// The role that operates deployments and signs their entries.
const OPERATOR_ROLE: &str = "operator";

/// One thing a role used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    Action,
    Deploy,
    Tokens(u64),
}

/// A use by a role at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub at: OffsetDateTime,
    pub role: String,
    pub used: Used,
}

fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)?.as_str()
}

/// What `entry` used of whose budget, if anything.
#[must_use]
pub fn usage_of(entry: &Entry) -> Option<Usage> {
    let signer = entry.actor.role.as_str();
    let body = &entry.body;
    let (role, used) = match entry.kind.as_str() {
        KIND_ALLOWED if signer == SYSTEM_ROLE => (text(body, "role")?, Used::Action),
        KIND_USAGE if signer == SYSTEM_ROLE => (
            text(body, "role")?,
            Used::Tokens(body.get("tokens")?.as_u64()?),
        ),
        KIND_DEPLOY_STARTED if signer == OPERATOR_ROLE || signer == SYSTEM_ROLE => {
            // A rollback is the way back, not a deploy; deploys of a pipeline's own steps
            // have no API caller.
            if text(body, "strategy") == Some("rollback") {
                return None;
            }
            (text(body.get("caller")?, "role")?, Used::Deploy)
        }
        "checkpoint.signed" | "checkpoint.vetoed" => {
            let role = text(body, "role")?;
            if role != signer {
                return None;
            }
            (role, Used::Tokens(body.get("tokens_used")?.as_u64()?))
        }
        _ => return None,
    };
    if used == Used::Tokens(0) {
        return None;
    }
    let at = OffsetDateTime::parse(&entry.ts, &Rfc3339).ok()?;
    Some(Usage {
        at,
        role: role.to_string(),
        used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_ledger::Actor;
    use serde_json::json;

    pub(crate) fn entry(signer: &str, kind: &str, body: Value) -> Entry {
        Entry {
            seq: 1,
            ts: "2026-12-02T14:05:00Z".into(),
            kind: kind.into(),
            actor: Actor {
                role: signer.into(),
                id: signer.into(),
                key: String::new(),
            },
            body,
            prev: String::new(),
            hash: String::new(),
            sig: String::new(),
        }
    }

    fn used(signer: &str, kind: &str, body: Value) -> Option<(String, Used)> {
        usage_of(&entry(signer, kind, body)).map(|u| (u.role, u.used))
    }

    #[test]
    fn each_kind_counts_for_the_role_it_names() {
        let caller = json!({"role": "deployer", "token": "ci"});
        assert_eq!(
            used(
                "gantry",
                KIND_ALLOWED,
                json!({"role": "deployer", "token": "ci"})
            ),
            Some(("deployer".into(), Used::Action))
        );
        assert_eq!(
            used(
                "gantry",
                KIND_USAGE,
                json!({"role": "planner", "tokens": 1200})
            ),
            Some(("planner".into(), Used::Tokens(1200)))
        );
        assert_eq!(
            used(
                "operator",
                KIND_DEPLOY_STARTED,
                json!({"id": "web-1", "strategy": "canary", "caller": caller})
            ),
            Some(("deployer".into(), Used::Deploy))
        );
        assert_eq!(
            used(
                "verifier",
                "checkpoint.signed",
                json!({"run": "r", "stage": "s", "role": "verifier", "tokens_used": 300})
            ),
            Some(("verifier".into(), Used::Tokens(300)))
        );
    }

    #[test]
    fn forged_rollbacks_pipeline_deploys_and_zero_tokens_do_not_count() {
        let caller = json!({"role": "deployer", "token": "ci"});
        // The wrong signer for the kind.
        assert_eq!(
            used("planner", KIND_ALLOWED, json!({"role": "operator"})),
            None
        );
        assert_eq!(
            used(
                "planner",
                KIND_USAGE,
                json!({"role": "operator", "tokens": 9})
            ),
            None
        );
        assert_eq!(
            used("planner", KIND_DEPLOY_STARTED, json!({"caller": caller})),
            None
        );
        assert_eq!(
            used(
                "planner",
                "checkpoint.signed",
                json!({"role": "verifier", "tokens_used": 5})
            ),
            None
        );
        // A rollback, and a deploy without an API caller (a pipeline step).
        assert_eq!(
            used(
                "operator",
                KIND_DEPLOY_STARTED,
                json!({"strategy": "rollback", "caller": caller})
            ),
            None
        );
        assert_eq!(
            used(
                "operator",
                KIND_DEPLOY_STARTED,
                json!({"strategy": "canary"})
            ),
            None
        );
        assert_eq!(
            used(
                "verifier",
                "checkpoint.vetoed",
                json!({"role": "verifier", "tokens_used": 0})
            ),
            None
        );
        assert_eq!(used("gantry", "access.denied", json!({"role": "x"})), None);
    }
}
