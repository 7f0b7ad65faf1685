//! gantry's current view as a pure fold over ledger entries.
//!
//! Nothing here reads files or clocks: the same entries always give the same [`State`], and
//! so the same bytes from [`State::to_json`]. `.gantry/state.json` is only a cache of it.

mod agents;
pub mod authority;
pub mod decide;
mod decisions;
mod deployments;
mod history;
mod runs;

use std::collections::BTreeMap;

use gantry_ledger::Entry;
use serde::{Deserialize, Serialize};

pub use agents::{AgentKey, AgentState, KeyStatus};
pub use authority::Rejection;
pub use decisions::{Decision, Decisions};
pub use deployments::{ApprovalView, DeploymentView, Services};
pub use history::{Revision, history};
pub use runs::{CheckpointRun, Manifest, Refusal, Run, RunStatus, Runs, StageRun, StepRun};

/// Everything gantry knows, as of the last folded entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub ledger: LedgerHead,
    /// Role → identity and key history.
    pub agents: BTreeMap<String, AgentState>,
    /// How many entries of each kind were recorded; a cheap overview for `status`.
    pub kinds: BTreeMap<String, u64>,
    /// Pipeline runs (`pipeline.*`, `checkpoint.*`, `step.*` entries).
    pub runs: Runs,
    /// Services and their deployments (`deployment.*`, `instance.*`, `traffic.*`, `rollback.*`).
    pub services: Services,
    /// Approvals and vetoes between agents (`decision.*`), and the blocking vetoes standing.
    #[serde(default)]
    pub decisions: Decisions,
    /// Entries whose signer may not write their kind ([`authority`]): kept in the ledger,
    /// ignored here.
    #[serde(default)]
    pub rejected: Vec<Rejection>,
}

/// Where the ledger stands: its size, head and last seal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerHead {
    pub origin: String,
    pub entries: u64,
    pub head: String,
    pub last_ts: String,
    pub seals: u64,
    pub last_seal: Option<Seal>,
    pub recoveries: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seal {
    pub seq: u64,
    pub size: u64,
    pub root: String,
}

impl State {
    /// Folds every entry, in order, into a fresh state.
    pub fn replay<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> State {
        let mut state = State::default();
        for entry in entries {
            state.apply(entry);
        }
        state
    }

    /// Folds every entry and also returns the ones the rule table admitted, in order, for
    /// readers that interpret entries themselves (the control plane's deployment history).
    pub fn replay_admitted(entries: &[Entry]) -> (State, Vec<&Entry>) {
        let mut state = State::default();
        let mut admitted = Vec::with_capacity(entries.len());
        for entry in entries {
            if state.apply(entry) {
                admitted.push(entry);
            }
        }
        (state, admitted)
    }

    /// Applies one entry and says whether it was admitted. An entry whose signer may not
    /// write its kind ([`authority`]) moves the head and is listed in `rejected`, but changes
    /// nothing else. Unknown kinds only count: later kinds must not break old replays.
    pub fn apply(&mut self, entry: &Entry) -> bool {
        let head = &mut self.ledger;
        head.entries = entry.seq;
        head.head.clone_from(&entry.hash);
        head.last_ts.clone_from(&entry.ts);
        if let Err(rejection) = authority::judge(self, entry) {
            // Shown with the run it tried to change, so `runs show` names the attempt.
            if let Some(run) = entry.body.get("run").and_then(|r| r.as_str())
                && let Some(run) = self.runs.runs.get_mut(run)
            {
                run.ignored.push(rejection.clone());
            }
            self.rejected.push(rejection);
            return false;
        }
        let head = &mut self.ledger;
        *self.kinds.entry(entry.kind.clone()).or_default() += 1;
        let body = &entry.body;
        match entry.kind.as_str() {
            "ledger.genesis" => {
                head.origin = str_field(body, "origin");
                agents::register(&mut self.agents, entry, "gantry", "gantry");
            }
            "ledger.sealed" => {
                head.seals += 1;
                head.last_seal = Some(Seal {
                    seq: entry.seq,
                    size: body.get("size").and_then(|v| v.as_u64()).unwrap_or(0),
                    root: str_field(body, "root"),
                });
            }
            "ledger.recovered" => head.recoveries += 1,
            "agent.registered" => {
                let role = str_field(body, "role");
                let id = str_field(body, "id");
                agents::register(&mut self.agents, entry, &role, &id);
            }
            "agent.rotated" => agents::rotate(&mut self.agents, entry),
            _ => {}
        }
        self.runs.apply(entry);
        self.services.apply(entry);
        self.decisions.apply(entry);
        true
    }

    /// The canonical snapshot bytes: pretty JSON with sorted maps and a trailing newline.
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).unwrap_or_default();
        out.push('\n');
        out
    }
}

/// An entry for the fold's unit tests: signed by `role` (agent id `<role>-agent`), with
/// no real hash or signature (the fold never checks them).
#[cfg(test)]
pub(crate) fn test_entry(seq: u64, role: &str, kind: &str, body: serde_json::Value) -> Entry {
    Entry {
        seq,
        ts: String::new(),
        kind: kind.into(),
        actor: gantry_ledger::Actor {
            role: role.into(),
            id: format!("{role}-agent"),
            key: String::new(),
        },
        body,
        prev: String::new(),
        hash: String::new(),
        sig: String::new(),
    }
}

pub(crate) fn str_field(body: &serde_json::Value, name: &str) -> String {
    body.get(name)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}
