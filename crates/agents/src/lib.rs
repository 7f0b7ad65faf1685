//! Agent identities: where each role's private key lives and how it is loaded.
//!
//! Private keys never enter `gantry.yaml` or the ledger. A role's key is read from the
//! environment variable `GANTRY_KEY_<ROLE>` (PKCS#8 PEM, for CI) or else from
//! `.gantry/keys/<role>.pem`, which must have mode 0600 so a key readable by other users is
//! never trusted silently. The keys directory must be 0700 (nobody else may add, swap or
//! list keys), and neither it nor a key file may be a symlink that leads out of `.gantry/`.

mod keystore;

pub use keystore::{KeySource, KeyStore, KeyStoreError, env_var_for};
