use std::collections::BTreeMap;

use gantry_ledger::Entry;
use serde::{Deserialize, Serialize};

use crate::str_field;

/// One role's identity and every key it has held.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    pub id: String,
    pub keys: Vec<AgentKey>,
}

impl AgentState {
    /// The key that signs for this role now, if any.
    pub fn active_key(&self) -> Option<&AgentKey> {
        self.keys.iter().find(|k| k.status == KeyStatus::Active)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentKey {
    pub fingerprint: String,
    pub public_key: String,
    pub registered_seq: u64,
    pub registered_ts: String,
    /// Seq of the rotation that retired it; the key stays valid for entries before it.
    pub retired_seq: Option<u64>,
    pub status: KeyStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Rotated,
}

pub(crate) fn register(
    agents: &mut BTreeMap<String, AgentState>,
    entry: &Entry,
    role: &str,
    id: &str,
) {
    let agent = agents.entry(role.to_string()).or_default();
    agent.id = id.to_string();
    for key in &mut agent.keys {
        if key.status == KeyStatus::Active {
            key.status = KeyStatus::Rotated;
            key.retired_seq = Some(entry.seq);
        }
    }
    agent.keys.push(AgentKey {
        fingerprint: str_field(&entry.body, "fingerprint"),
        public_key: str_field(&entry.body, "public_key"),
        registered_seq: entry.seq,
        registered_ts: entry.ts.clone(),
        retired_seq: None,
        status: KeyStatus::Active,
    });
}

pub(crate) fn rotate(agents: &mut BTreeMap<String, AgentState>, entry: &Entry) {
    let role = str_field(&entry.body, "role");
    let id = str_field(&entry.body, "id");
    register(agents, entry, &role, &id);
}
