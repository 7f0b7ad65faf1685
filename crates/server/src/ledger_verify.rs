//! The control plane verifies its own ledger now and then (chain, signatures, seals) and
//! exports the result as `gantry_ledger_verify_success`, so an alert can watch it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::monitoring::Monitoring;

/// A full verification reads every entry: often enough to notice, rarely enough to cost
/// nothing on a large ledger.
const EVERY: Duration = Duration::from_secs(300);

pub(crate) async fn every(path: PathBuf, monitoring: Arc<Monitoring>) {
    loop {
        let p = path.clone();
        let ok = tokio::task::spawn_blocking(move || {
            gantry_ledger::verify(&p).is_ok_and(|r| r.failure.is_none())
        })
        .await
        .unwrap_or(false);
        if !ok {
            tracing::warn!(path = %path.display(), "the ledger does not verify (`gantry ledger verify` names the first bad entry)");
        }
        monitoring
            .metrics
            .ledger_verified(ok, chrono::Utc::now().timestamp());
        tokio::time::sleep(EVERY).await;
    }
}
