//! Integration tests: the real `gantry` binary in temporary projects.
//! One test binary with modules, so the suite links once.

mod agents;
mod config_refusals;
mod independent_verifier;
mod init_config;
mod keys;
mod ledger_audit;
mod ledger_concurrency;
mod ledger_proofs;
mod ledger_tamper;

use gantry_test_support::TestProject;

pub fn project() -> TestProject {
    TestProject::init(env!("CARGO_BIN_EXE_gantry"))
}

pub fn empty() -> TestProject {
    TestProject::empty(env!("CARGO_BIN_EXE_gantry"))
}
