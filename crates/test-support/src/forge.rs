//! Entries written the way a registered agent could write them without going through the
//! command that owns their kind: properly signed with the role's own key, straight into the
//! ledger. What an agent holding only its own key can do, tests of the rule table do.

use gantry_ledger::{Entry, Ledger, LedgerOptions, Signer, key_from_pem};
use serde_json::Value;

use crate::TestProject;

impl TestProject {
    /// Appends `kind` with `body`, signed by `role`'s key from `.gantry/keys/` under the
    /// agent id `id` (which must be the role's registered id for the entry to verify).
    pub fn forge(&self, role: &str, id: &str, kind: &str, body: Value) -> Entry {
        let pem = std::fs::read_to_string(self.path().join(format!(".gantry/keys/{role}.pem")))
            .expect("the role's key");
        let signer = Signer::new(role, id, key_from_pem(&pem).expect("a PEM key"));
        let ledger = Ledger::open(&self.ledger_path(), LedgerOptions::default()).expect("ledger");
        ledger.append(&signer, kind, body).expect("append")
    }
}
