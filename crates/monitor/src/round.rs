//! One check round: every target probed at once, each bounded by its own timeout.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::probe::probe;
use crate::report::Sample;
use crate::targets::Target;

/// Probes every target concurrently and returns the samples by [`Target::key`]. A slow
/// target delays only the round's end, never another target's probe.
pub async fn run(http: &reqwest::Client, targets: &[Target]) -> BTreeMap<String, Sample> {
    let mut set = tokio::task::JoinSet::new();
    for t in targets {
        let http = http.clone();
        let t = t.clone();
        set.spawn(async move {
            let at = Utc::now();
            let result = probe(&http, &t.check, t.timeout).await;
            (t.key(), Sample { result, at })
        });
    }
    let mut out = BTreeMap::new();
    while let Some(done) = set.join_next().await {
        if let Ok((name, sample)) = done {
            out.insert(name, sample);
        }
    }
    out
}
