//! The fingerprint of a pipeline's definition, recorded when a run starts or resumes, so
//! that `--resume` does not silently continue a run under different stages, steps or
//! checkpoints than the ones whose evidence it already holds.

use gantry_config::Pipeline;
use sha2::{Digest, Sha256};

use crate::error::PipelineError;

/// sha256 (hex) of the pipeline's definition as parsed, not of the YAML text: positions,
/// comments, formatting and other pipelines do not change it; any change to what would run
/// does. The model serializes deterministically (ordered maps, values without positions).
#[must_use]
pub fn definition_sha256(pipeline: &Pipeline, masker: &crate::Masker) -> String {
    // Hashed with its secrets masked: the hash goes into the ledger, and the hash of a
    // definition holding a short or guessable secret value would let anyone holding the
    // ledger test guesses offline. A changed secret value is not a changed pipeline either.
    let value = serde_json::to_value(pipeline).unwrap_or_default();
    // Serializing plain data to a Vec cannot fail; an empty input would still hash.
    let bytes = serde_json::to_vec(&masker.mask_json(&value)).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// Refuses to resume `run` when the definition it recorded differs from `now`, unless
/// `force`. Runs recorded before the hash was kept have nothing to compare with.
pub(crate) fn check_unchanged(
    run: &gantry_state::Run,
    now: &str,
    force: bool,
) -> Result<(), PipelineError> {
    match &run.config_sha256 {
        Some(then) if then != now && !force => Err(PipelineError::DefinitionChanged {
            run: run.id.clone(),
            pipeline: run.pipeline.clone(),
            then: short(then),
            now: short(now),
        }),
        _ => Ok(()),
    }
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(yaml: &str) -> Pipeline {
        let text =
            format!("project: t\nagents: {{ planner: {{ id: P }} }}\npipelines:\n  p:\n{yaml}");
        let config = gantry_config::parse("gantry.yaml", &text).expect("config");
        config.pipelines["p"].value.clone()
    }

    #[test]
    fn formatting_does_not_matter_content_does() {
        let a = pipeline("    stages:\n      - { name: a, steps: [ { run: 'true' } ] }\n");
        let b = pipeline(
            "    # a comment\n    stages:\n      - name: a\n        steps:\n          - run: 'true'\n",
        );
        let c = pipeline("    stages:\n      - { name: a, steps: [ { run: 'false' } ] }\n");
        let none = crate::Masker::default();
        assert_eq!(definition_sha256(&a, &none), definition_sha256(&b, &none));
        assert_ne!(definition_sha256(&a, &none), definition_sha256(&c, &none));
    }

    #[test]
    fn secret_values_do_not_reach_the_hash() {
        let with = |token: &str| {
            let p = pipeline(&format!(
                "    env: {{ DEPLOY_TOKEN: {token} }}\n    stages:\n      - {{ name: a, steps: [ {{ run: 'true' }} ] }}\n"
            ));
            let masker = crate::Masker::for_pipeline(&p, &Default::default());
            definition_sha256(&p, &masker)
        };
        assert_eq!(with("s3cret-one"), with("an0ther-secret"));
    }

    #[test]
    fn changed_definition_needs_force() {
        let run = gantry_state::Run {
            id: "r1".into(),
            pipeline: "p".into(),
            config_sha256: Some("a".repeat(64)),
            ..Default::default()
        };
        let err = check_unchanged(&run, &"b".repeat(64), false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(check_unchanged(&run, &"b".repeat(64), true).is_ok());
        assert!(check_unchanged(&run, &"a".repeat(64), false).is_ok());
        let old = gantry_state::Run {
            config_sha256: None,
            ..run
        };
        assert!(check_unchanged(&old, &"b".repeat(64), false).is_ok());
    }
}
