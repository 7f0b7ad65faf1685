//! A service's deployment history folded from the ledger: one revision per deployment or
//! rollback, with who started it and how it ended. Pure: entries in, revisions out (the
//! caller passes only entries the rule table admitted).

use gantry_ledger::Entry;
use serde::Serialize;
use serde_json::Value;

/// One deployment (or rollback) of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Revision {
    /// 1 for the service's first deployment, counting rollbacks.
    pub revision: u64,
    pub id: String,
    pub from: Option<String>,
    pub to: String,
    /// `rolling`, `blue_green`, `canary`, `initial`, or `rollback`.
    pub strategy: String,
    /// The last phase recorded: `succeeded`, `rolled_back`, `aborted`, `failed`, or a
    /// phase of one still running.
    pub outcome: String,
    pub in_progress: bool,
    /// Role and agent id of whoever signed its start.
    pub started_by: String,
    pub started_at: String,
    /// When its last entry was written (the end, for one that is over).
    pub updated_at: String,
    /// Why it failed, was rolled back or aborted, as recorded.
    pub reason: Option<String>,
    /// The git commit of `to`, when it is a tag built for `releases_from`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// `service`'s revisions, oldest first.
pub fn history<'a>(entries: impl IntoIterator<Item = &'a Entry>, service: &str) -> Vec<Revision> {
    let mut out: Vec<Revision> = Vec::new();
    // Commits of the git tags built so far, by version.
    let mut commits: std::collections::BTreeMap<String, String> = Default::default();
    for entry in entries {
        let body = &entry.body;
        if body.get("service").and_then(Value::as_str) != Some(service) {
            continue;
        }
        if entry.kind == "release.built"
            && let (Some(v), Some(c)) = (
                body.get("version").and_then(Value::as_str),
                body.get("commit").and_then(Value::as_str),
            )
        {
            commits.insert(v.to_string(), c.to_string());
            continue;
        }
        let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let start = match entry.kind.as_str() {
            "deployment.state.started" => Some(text("strategy").unwrap_or_default()),
            "rollback.planned" => Some("rollback".to_string()),
            // A deploy that waits for its environment's approval starts here.
            "approval.requested" => Some(text("strategy").unwrap_or_default()),
            _ => None,
        };
        if let Some(strategy) = start {
            if out.iter().any(|r| r.id == id) {
                continue;
            }
            out.push(Revision {
                revision: out.len() as u64 + 1,
                id: id.to_string(),
                from: text("from"),
                to: text("to").or_else(|| text("version")).unwrap_or_default(),
                outcome: if entry.kind == "approval.requested" {
                    "awaiting_approval".into()
                } else {
                    "started".into()
                },
                strategy,
                in_progress: true,
                started_by: format!("{} ({})", entry.actor.role, entry.actor.id),
                started_at: entry.ts.clone(),
                updated_at: entry.ts.clone(),
                reason: None,
                commit: text("to")
                    .or_else(|| text("version"))
                    .and_then(|to| commits.get(&to).cloned()),
            });
            continue;
        }
        let expired = entry.kind == "approval.expired";
        let Some(phase) = entry
            .kind
            .strip_prefix("deployment.state.")
            .or(expired.then_some("failed"))
        else {
            continue;
        };
        let Some(rev) = out.iter_mut().rev().find(|r| r.id == id) else {
            continue;
        };
        if !rev.in_progress {
            continue;
        }
        rev.outcome = phase.to_string();
        rev.updated_at.clone_from(&entry.ts);
        if rev.reason.is_none() {
            rev.reason = text("reason");
        }
        // An expired approval started nothing: there is nothing to roll back.
        rev.in_progress = !(matches!(phase, "succeeded" | "rolled_back" | "aborted")
            || (phase == "failed" && (rev.from.is_none() || expired)));
    }
    out
}

#[cfg(test)]
mod tests {
    use gantry_ledger::{Actor, Entry};
    use serde_json::json;

    use super::history;

    fn entry(seq: u64, kind: &str, role: &str, body: serde_json::Value) -> Entry {
        Entry {
            seq,
            ts: format!("2026-12-01T10:00:0{seq}Z"),
            kind: kind.into(),
            actor: Actor {
                role: role.into(),
                id: format!("{role}-id"),
                key: String::new(),
            },
            body,
            prev: String::new(),
            hash: String::new(),
            sig: String::new(),
        }
    }

    #[test]
    fn revisions_with_outcome_reason_and_who() {
        let web = |id: &str, extra: serde_json::Value| {
            let mut b = json!({"service": "web", "id": id});
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            b
        };
        let entries = [
            entry(
                1,
                "deployment.state.started",
                "operator",
                web("1", json!({"to": "v1", "strategy": "initial"})),
            ),
            entry(
                2,
                "deployment.state.succeeded",
                "gantry",
                web("1", json!({})),
            ),
            entry(
                3,
                "deployment.state.started",
                "operator",
                web("2", json!({"from": "v1", "to": "v2", "strategy": "canary"})),
            ),
            entry(
                4,
                "deployment.state.failed",
                "gantry",
                web("2", json!({"reason": "error rate 50% > 5%"})),
            ),
            entry(
                5,
                "deployment.state.rolled_back",
                "gantry",
                web("2", json!({})),
            ),
            entry(
                6,
                "deployment.state.started",
                "operator",
                json!({"service": "api", "id": "3", "to": "v1"}),
            ),
            entry(
                7,
                "rollback.planned",
                "operator",
                web("4", json!({"from": "v1", "to": "v0"})),
            ),
        ];
        let revs = history(&entries, "web");
        assert_eq!(revs.len(), 3);
        assert_eq!(
            (
                revs[0].revision,
                revs[0].outcome.as_str(),
                revs[0].in_progress
            ),
            (1, "succeeded", false)
        );
        assert_eq!(revs[1].from.as_deref(), Some("v1"));
        assert_eq!(revs[1].outcome, "rolled_back");
        assert_eq!(revs[1].reason.as_deref(), Some("error rate 50% > 5%"));
        assert_eq!(revs[1].started_by, "operator (operator-id)");
        assert_eq!(revs[1].updated_at, "2026-12-01T10:00:05Z");
        assert_eq!(
            (revs[2].strategy.as_str(), revs[2].in_progress),
            ("rollback", true)
        );
    }
}
