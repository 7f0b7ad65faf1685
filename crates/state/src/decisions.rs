//! The decision log: approvals and vetoes between agents (`decision.veto`,
//! `decision.approve`), and which services a blocking veto stops.
//!
//! A blocking veto on a service stands until a `decision.approve` of that service by an
//! approving role ([`crate::authority`] admits only those); the approve clears every veto
//! standing on the service when it is written.

use std::collections::BTreeMap;

use gantry_ledger::Entry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::str_field;

/// Every decision, in ledger order, and the blocking vetoes still standing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decisions {
    pub log: Vec<Decision>,
    /// Service → seqs of the blocking vetoes no approve has cleared yet.
    pub blocking: BTreeMap<String, Vec<u64>>,
}

/// One approve or veto, with the fields agents exchange.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub seq: u64,
    pub ts: String,
    /// `veto` or `approve`.
    pub decision: String,
    /// The deciding role (the entry's signer) and its agent id.
    pub from: String,
    pub agent: String,
    /// The role or agent the decision is addressed to.
    pub to: String,
    /// What was decided on (`service web`, `plan plan.json`).
    pub subject: String,
    /// The service it concerns; a blocking veto stops its deploys.
    pub service: Option<String>,
    pub violation: String,
    pub specifics: Vec<String>,
    pub impact: String,
    pub requirement: String,
    pub blocking: bool,
    pub action_needed: String,
    /// For a veto: the seq of the approve that cleared it. For an approve: the vetoes it
    /// cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_by: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clears: Vec<u64>,
}

impl Decisions {
    pub(crate) fn apply(&mut self, entry: &Entry) {
        let decision = match entry.kind.as_str() {
            "decision.veto" => "veto",
            "decision.approve" => "approve",
            _ => return,
        };
        let body = &entry.body;
        let service = body
            .get("service")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut d = Decision {
            seq: entry.seq,
            ts: entry.ts.clone(),
            decision: decision.to_string(),
            from: entry.actor.role.clone(),
            agent: entry.actor.id.clone(),
            to: str_field(body, "to"),
            subject: str_field(body, "subject"),
            service: service.clone(),
            violation: str_field(body, "violation"),
            specifics: specifics(body),
            impact: str_field(body, "impact"),
            requirement: str_field(body, "requirement"),
            blocking: body
                .get("blocking")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            action_needed: str_field(body, "action_needed"),
            cleared_by: None,
            clears: Vec::new(),
        };
        match (decision, service) {
            ("veto", Some(service)) if d.blocking => {
                self.blocking.entry(service).or_default().push(entry.seq);
            }
            ("approve", Some(service)) => {
                d.clears = self.blocking.remove(&service).unwrap_or_default();
                for veto in self.log.iter_mut().filter(|v| d.clears.contains(&v.seq)) {
                    veto.cleared_by = Some(entry.seq);
                }
            }
            _ => {}
        }
        self.log.push(d);
    }

    /// The blocking vetoes standing on `service`, oldest first.
    pub fn blocking_vetoes(&self, service: &str) -> Vec<&Decision> {
        let seqs = self.blocking.get(service).map_or(&[][..], |s| &s[..]);
        self.log.iter().filter(|d| seqs.contains(&d.seq)).collect()
    }

    /// Why a deploy of `service` is refused, if a blocking veto stands on it: one line per
    /// veto, after a sentence ending with `how_to_clear` (which differs by interface).
    #[must_use]
    pub fn veto_refusal(&self, service: &str, how_to_clear: &str) -> Option<String> {
        let vetoes = self.blocking_vetoes(service);
        if vetoes.is_empty() {
            return None;
        }
        let lines: Vec<String> = vetoes
            .iter()
            .map(|v| {
                format!(
                    "  seq {} by {}: {} ({})",
                    v.seq, v.from, v.violation, v.subject
                )
            })
            .collect();
        Some(format!(
            "service '{service}' has {} blocking veto(es); deploys are refused until a verifier or operator {how_to_clear}:\n{}",
            vetoes.len(),
            lines.join("\n")
        ))
    }
}

/// `specifics` as a list: agents write one text or several.
fn specifics(body: &Value) -> Vec<String> {
    match body.get("specifics") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::State;
    use crate::test_entry as entry;

    fn veto(seq: u64, role: &str, service: &str) -> gantry_ledger::Entry {
        entry(
            seq,
            role,
            "decision.veto",
            json!({"service": service, "subject": format!("service {service}"), "violation": "readinessProbeMissing",
                   "specifics": ["no readiness probe"], "blocking": true, "to": "planner"}),
        )
    }

    #[test]
    fn a_blocking_veto_stands_until_an_approving_role_clears_it() {
        let entries = [
            veto(1, "verifier", "web"),
            veto(2, "planner", "api"),
            entry(3, "planner", "decision.approve", json!({"service": "web"})),
        ];
        let state = State::replay(&entries);
        assert_eq!(
            state.decisions.blocking_vetoes("web").len(),
            1,
            "a planner cannot clear it"
        );
        assert_eq!(
            state.rejected.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [3]
        );
        assert_eq!(state.decisions.blocking_vetoes("api")[0].from, "planner");

        let mut state = state;
        assert!(state.apply(&entry(
            4,
            "operator",
            "decision.approve",
            json!({"service": "web"})
        )));
        assert!(state.decisions.blocking_vetoes("web").is_empty());
        assert_eq!(state.decisions.log[0].cleared_by, Some(4));
        assert_eq!(state.decisions.log.last().unwrap().clears, [1]);
        assert_eq!(
            state.decisions.blocking_vetoes("api").len(),
            1,
            "other services stay blocked"
        );
    }

    #[test]
    fn a_non_blocking_veto_is_logged_and_stops_nothing() {
        let mut v = veto(1, "verifier", "web");
        v.body["blocking"] = json!(false);
        let state = State::replay(&[v]);
        assert_eq!(state.decisions.log.len(), 1);
        assert!(state.decisions.blocking_vetoes("web").is_empty());
    }
}
