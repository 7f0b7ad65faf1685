//! Guarded rollback: returning to a version that analysis rolled back, or that failed,
//! is refused without `--force` — the ledger already holds the evidence against it.

use gantry_state::Revision;
use serde_json::Value;

use crate::exit::{self, Exit};

/// The last deployment *to* `version` (rollbacks to it aside) when it did not succeed:
/// rolled back by analysis, failed, or aborted by the operator is not counted (no evidence).
pub fn bad_record<'a>(revisions: &'a [Revision], version: &str) -> Option<&'a Revision> {
    revisions
        .iter()
        .rev()
        .find(|r| r.to == version && r.strategy != "rollback" && !r.in_progress)
        .filter(|r| matches!(r.outcome.as_str(), "rolled_back" | "failed"))
}

/// `web v2 was rolled back in revision 2 (d-2): why`.
pub fn describe(service: &str, version: &str, bad: &Revision) -> String {
    let how = if bad.outcome == "rolled_back" {
        "was rolled back"
    } else {
        "failed"
    };
    let why = bad
        .reason
        .as_deref()
        .map_or(String::new(), |r| format!(": {r}"));
    format!(
        "{service} {version} {how} in revision {} ({}){why}",
        bad.revision, bad.id
    )
}

/// Refuses (exit 7, `rollback_target_failed`) a target with a bad record, naming it.
pub fn refuse(service: &str, version: &str, bad: &Revision) -> anyhow::Error {
    Exit {
        name: Some("rollback_target_failed".into()),
        hint: Some(format!(
            "check `gantry history {service}`; to return to {version} all the same: `gantry rollback {service} --to {version} --force`"
        )),
        ..Exit::new(
            exit::REFUSED,
            format!(
                "{}; refusing to roll back to it without --force",
                describe(service, version, bad)
            ),
        )
    }
    .into()
}

/// Whether the plan judges the target under analysis: only when it pauses to analyse.
pub fn analysis_applies(plan: &Value) -> bool {
    plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["step"] == "pause" && s["analyse"] == true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(n: u64, to: &str, strategy: &str, outcome: &str) -> Revision {
        Revision {
            revision: n,
            id: format!("d{n}"),
            from: None,
            to: to.into(),
            strategy: strategy.into(),
            outcome: outcome.into(),
            in_progress: false,
            started_by: "operator".into(),
            started_at: String::new(),
            updated_at: String::new(),
            reason: Some("analysis failed".into()),
            commit: None,
        }
    }

    #[test]
    fn the_last_deployment_to_the_target_decides() {
        let revs = vec![
            rev(1, "v1", "initial", "succeeded"),
            rev(2, "v2", "canary", "rolled_back"),
            rev(3, "v3", "canary", "aborted"),
        ];
        assert_eq!(bad_record(&revs, "v2").map(|r| r.revision), Some(2));
        assert!(bad_record(&revs, "v1").is_none());
        assert!(bad_record(&revs, "v3").is_none(), "aborted is no evidence");
        let mut later = revs.clone();
        later.push(rev(4, "v2", "canary", "succeeded"));
        assert!(bad_record(&later, "v2").is_none());
        later.push(rev(5, "v2", "rollback", "failed"));
        assert!(bad_record(&later, "v2").is_none(), "rollbacks to it aside");
    }

    #[test]
    fn analysis_applies_only_to_a_plan_that_pauses_to_analyse() {
        let plan =
            serde_json::json!({"steps": [{"step": "start"}, {"step": "pause", "analyse": true}]});
        assert!(analysis_applies(&plan));
        assert!(!analysis_applies(
            &serde_json::json!({"steps": [{"step": "weights"}]})
        ));
    }
}
