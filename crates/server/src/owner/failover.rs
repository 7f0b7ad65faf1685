//! The fast way out of a failed deployment: when the stable version still has ready
//! instances (a canary, a blue-green before its switch), traffic returns to it before
//! anything is written, and the three entries that explain it go to the ledger together.

use std::collections::BTreeMap;

use gantry_deploy::Phase;
use serde_json::Value;

use super::Owner;
use crate::core::By;

impl Owner {
    pub(super) async fn fail_over(
        &mut self,
        failed: Value,
        failed_text: String,
        triggered: Value,
        triggered_text: String,
        weights: &BTreeMap<String, u32>,
    ) {
        let Some(dep) = self.active.as_mut() else {
            return;
        };
        if let Some(r) = failed.get("reason").and_then(Value::as_str) {
            dep.status.reason = Some(r.to_string());
        }
        dep.status.phase = Phase::Failed;
        let failed = dep.body(failed);
        let (shifted, shifted_text) = self.shift_now(true, weights, false);
        let items = vec![
            (By::System, Phase::Failed.ledger_kind(), failed),
            (By::System, "rollback.triggered".to_string(), triggered),
            (By::System, "traffic.shifted".to_string(), shifted),
        ];
        let kinds: Vec<String> = items.iter().map(|(_, k, _)| k.clone()).collect();
        let entries = self.core.record_batch(items).await.unwrap_or_default();
        for (i, (kind, text)) in kinds
            .into_iter()
            .zip([failed_text, triggered_text, shifted_text])
            .enumerate()
        {
            self.on_timeline(entries.get(i), kind, text);
        }
    }
}
