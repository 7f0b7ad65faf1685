//! Pipelines (`pipelines:`): budgets, stages and checkpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Condition, Step};
use crate::units::Duration;
use crate::{Spanned, StringList};

/// Where run outcomes are appended when a pipeline sets no `report`.
pub const DEFAULT_REPORT: &str = "docs/reports/DEPLOYMENT_OUTCOMES.md";

/// A release pipeline: stages of steps, gated by signed checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// Limits that stop a run which exceeds them. Default: none.
    #[serde(default)]
    pub budget: Budget,
    /// Names of environment variables whose values are masked as `***` in every log,
    /// report and ledger entry. A value shorter than 4 characters is refused (masking it
    /// would rewrite unrelated text); an unset or empty one is not an error.
    #[serde(default, deserialize_with = "super::null_default")]
    pub secrets: StringList,
    /// Environment variables for every step.
    #[serde(default, deserialize_with = "super::null_default")]
    pub env: BTreeMap<String, String>,
    /// Stages, in the order written. A stage without `needs` waits for the one before it.
    pub stages: Vec<Stage>,
    /// Markdown file each finished run appends a row to, relative to the project root and
    /// inside it (not under `.gantry/`). Default: [`DEFAULT_REPORT`].
    #[serde(default)]
    pub report: Option<Spanned<String>>,
}

impl Pipeline {
    /// The outcomes report path.
    #[must_use]
    pub fn report_path(&self) -> &str {
        self.report.as_ref().map_or(DEFAULT_REPORT, |r| r.as_str())
    }

    /// The index of the stage called `name`.
    #[must_use]
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| *s.name == name)
    }
}

/// Limits for one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Wall-clock time for the whole run. Default: unlimited.
    #[serde(default)]
    pub time: Option<Duration>,
    /// Tokens reported by agents, summed over the run. Default: unlimited.
    #[serde(default)]
    pub tokens: Option<u64>,
    /// Files changed in the working tree (git). Default: unlimited.
    #[serde(default)]
    pub files: Option<u32>,
    /// Glob patterns of paths a run may change (`deploy/**`); a change elsewhere stops the
    /// run. Default: empty, meaning any path.
    #[serde(default, deserialize_with = "super::null_default")]
    pub paths: Vec<String>,
    /// The only programs steps may run (`[bash, npm, jq]`): each `run:` starts with one of
    /// them (or a shell builtin), and steps run with a PATH holding only these and `sh`.
    /// Default: absent, meaning the caller's PATH.
    #[serde(default)]
    pub tools: Option<Spanned<Vec<Spanned<String>>>>,
}

/// One stage of a pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Unique name within the pipeline. It names the stage's log directory, so it may not
    /// be empty, `.` or `..`, nor contain `/`, `\`, NUL or other control characters.
    pub name: Spanned<String>,
    /// Stages this one waits for. Absent: the stage written before it (none for the
    /// first). `[]`: starts at once. Stages whose needs are met run in parallel.
    #[serde(default)]
    pub needs: Option<Vec<Spanned<String>>>,
    /// Run the stage only if the outcome so far matches: `success()` (the default),
    /// `failure()` (e.g. a rollback stage) or `always()`.
    #[serde(default, rename = "if")]
    pub condition: Option<Condition>,
    /// Steps, run in order.
    #[serde(default, deserialize_with = "super::null_default")]
    pub steps: Vec<Spanned<Step>>,
    /// A signature the next stages wait for. Default: none.
    #[serde(default)]
    pub checkpoint: Option<Checkpoint>,
}

/// A gate at the end of a stage: the agent holding `role` must sign before dependent
/// stages start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The role (from `agents:`) that signs.
    pub role: Spanned<String>,
    /// Artefact paths that must exist (and match the run's manifest) before signing;
    /// relative to the project root and inside it.
    #[serde(default, deserialize_with = "super::null_default")]
    pub requires: StringList,
    /// Whether the signer must write a summary. Default: optional.
    #[serde(default)]
    pub summary: Summary,
    /// Fail the run if no signature arrives in time. Default: wait indefinitely.
    #[serde(default)]
    pub timeout: Option<Duration>,
}

/// Whether a checkpoint signature must carry a summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Summary {
    /// A signature without a summary is refused.
    Required,
    /// A summary may be given.
    #[default]
    Optional,
}
