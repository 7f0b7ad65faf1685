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

/// Signs `msg` with nonce point `R = [r]B + T` for the torsion point `T = EIGHT_TORSION[t]`,
/// as only the holder of `key` can. Cofactored checks accept it; strict Ed25519 does not
/// (unless t = 0), and batch verification accepts it for some batches and not others.
pub fn torsion_signature(key: &gantry_ledger::SigningKey, msg: &[u8], t: usize) -> [u8; 64] {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};
    let h = Sha512::digest(key.to_bytes());
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let a = Scalar::from_bytes_mod_order(a);
    let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(msg).into());
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[t]).compress();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(key.verifying_key().as_bytes())
            .chain_update(msg)
            .finalize()
            .into(),
    );
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice((r + k * a).as_bytes());
    sig
}
