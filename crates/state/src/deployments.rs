//! Services and deployments folded from `deployment.*`, `instance.*`, `traffic.*` and
//! `rollback.*` entries.

use gantry_ledger::Entry;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Services {}

impl Services {
    pub(crate) fn apply(&mut self, _entry: &Entry) {}
}
