//! Pipeline runs folded from `pipeline.*`, `stage.*`, `step.*` and `checkpoint.*` entries.

use gantry_ledger::Entry;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Runs {}

impl Runs {
    pub(crate) fn apply(&mut self, _entry: &Entry) {}
}
