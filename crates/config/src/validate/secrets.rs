//! Declared `secrets:` whose values are too short to mask.
//!
//! Masking replaces every occurrence of a secret's value with `***`. A value of one to three
//! characters occurs everywhere by chance (with a secret `0`, every `0` in the logs and the
//! ledger becomes `***`), so masking it garbles unrelated text and, by where the `***`
//! appear, tells a reader what the secret is. Such a value is refused, located at its
//! `secrets:` item. An unset (or empty) declared secret is not an error: there is nothing
//! to mask, and CI often declares secrets that only some jobs set.

use std::collections::BTreeMap;

use super::Problems;
use crate::Config;

/// The shortest declared secret value gantry masks.
pub const MIN_SECRET_CHARS: usize = 4;

/// `env` is the process environment the command runs with; a value set in gantry.yaml's
/// `env:` (the pipeline's, or a step's) takes precedence over it, as it does in a run.
pub(super) fn check_secrets(config: &Config, env: &BTreeMap<String, String>, p: &mut Problems<'_>) {
    for (pipeline_name, pipeline) in &config.pipelines {
        for (secret, pos) in pipeline.secrets.with_pos() {
            let mut values: Vec<(&str, String)> = Vec::new();
            match pipeline.env.get(secret) {
                Some(value) => values.push((value, "set in the pipeline's `env:`".to_string())),
                None => {
                    if let Some(value) = env.get(secret) {
                        values.push((value, "from the environment".to_string()));
                    }
                }
            }
            for stage in &pipeline.stages {
                for step in &stage.steps {
                    if let Some(value) = step.env.vars().and_then(|vars| vars.get(secret)) {
                        values.push((
                            value,
                            format!(
                                "set in `env:` of step '{}' in stage '{}'",
                                step.display_name(),
                                stage.name.value
                            ),
                        ));
                    }
                }
            }
            let short = values.into_iter().find(|(value, _)| {
                let chars = value.chars().count();
                chars > 0 && chars < MIN_SECRET_CHARS
            });
            if let Some((value, source)) = short {
                let chars = value.chars().count();
                let plural = if chars == 1 { "" } else { "s" };
                p.add(
                    pos,
                    "gantry::config::short_secret",
                    "value too short to mask",
                    format!(
                        "secret '{secret}' of pipeline '{pipeline_name}' is only {chars} \
                         character{plural} long ({source}); a declared secret needs at least \
                         {MIN_SECRET_CHARS}: masking a value this short would rewrite unrelated \
                         text (with a secret `0`, every `0` in logs and the ledger becomes `***`) \
                         and reveal the secret by where the `***` appear; use a longer value or \
                         remove it from `secrets:`"
                    ),
                );
            }
        }
    }
}
