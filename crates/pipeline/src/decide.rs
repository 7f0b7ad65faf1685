//! Whether a decision on a checkpoint may be recorded: the run must be waiting at that
//! stage's checkpoint, the deciding role must be the one the checkpoint names, and a veto
//! (or a checkpoint that requires one) needs a summary. `gantry sign` and the API's
//! sign/veto routes both ask this before they write `checkpoint.signed`/`checkpoint.vetoed`.

use gantry_state::{CheckpointRun, Run};

/// Why the decision cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("run {run} is not waiting for a checkpoint of stage '{stage}' (yet)")]
    NoCheckpoint { run: String, stage: String },
    #[error(
        "the checkpoint of stage '{stage}' in run {run} timed out ({why}); the run failed on it, so there is nothing to sign"
    )]
    TimedOut {
        run: String,
        stage: String,
        why: String,
    },
    #[error("the checkpoint of stage '{stage}' in run {run} is already {status} by {by}")]
    Decided {
        run: String,
        stage: String,
        status: String,
        by: String,
    },
    /// The one refusal that is about who asks rather than about the run.
    #[error("the checkpoint of stage '{stage}' must be signed by role '{wants}', not '{role}'")]
    WrongRole {
        stage: String,
        wants: String,
        role: String,
    },
    #[error("{0}")]
    NeedsSummary(String),
}

/// The checkpoint of `stage` in `run` that `role` may decide now (approve, or veto when
/// `veto`), given the `summary` offered.
pub fn decidable<'a>(
    run: &'a Run,
    stage: &str,
    role: &str,
    veto: bool,
    summary: &str,
) -> Result<&'a CheckpointRun, DecideError> {
    let cp = run
        .checkpoints
        .iter()
        .rev()
        .find(|c| c.stage == stage)
        .ok_or_else(|| DecideError::NoCheckpoint {
            run: run.id.clone(),
            stage: stage.to_string(),
        })?;
    if cp.status == "timed_out" {
        return Err(DecideError::TimedOut {
            run: run.id.clone(),
            stage: stage.to_string(),
            why: cp
                .summary
                .clone()
                .unwrap_or_else(|| "no signature in time".into()),
        });
    }
    if cp.status != "waiting" {
        return Err(DecideError::Decided {
            run: run.id.clone(),
            stage: stage.to_string(),
            status: cp.status.clone(),
            by: cp.signer.clone().unwrap_or_else(|| "?".into()),
        });
    }
    if cp.role != role {
        return Err(DecideError::WrongRole {
            stage: stage.to_string(),
            wants: cp.role.clone(),
            role: role.to_string(),
        });
    }
    if summary.trim().is_empty() && (veto || cp.summary_required) {
        return Err(DecideError::NeedsSummary(if veto {
            "a veto needs a summary with its reason (--summary)".to_string()
        } else {
            format!(
                "the checkpoint of stage '{stage}' requires --summary (a summary of what was checked)"
            )
        }));
    }
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: &str) -> Run {
        Run {
            id: "r1".into(),
            checkpoints: vec![CheckpointRun {
                stage: "build".into(),
                role: "verifier".into(),
                status: status.into(),
                summary_required: true,
                signer: Some("ReviewAgent".into()),
                ..CheckpointRun::default()
            }],
            ..Run::default()
        }
    }

    #[test]
    fn only_the_named_role_decides_a_waiting_checkpoint_with_its_summary() {
        let r = run("waiting");
        assert!(decidable(&r, "build", "verifier", false, "checked").is_ok());
        assert!(matches!(
            decidable(&r, "build", "planner", false, "checked"),
            Err(DecideError::WrongRole { .. })
        ));
        let e = decidable(&r, "build", "verifier", false, " ").unwrap_err();
        assert!(e.to_string().contains("requires --summary"), "{e}");
        let e = decidable(&run("waiting"), "ship", "verifier", false, "x").unwrap_err();
        assert!(matches!(e, DecideError::NoCheckpoint { .. }));
        let e = decidable(&run("signed"), "build", "verifier", true, "x").unwrap_err();
        assert!(
            e.to_string().contains("already signed by ReviewAgent"),
            "{e}"
        );
    }
}
