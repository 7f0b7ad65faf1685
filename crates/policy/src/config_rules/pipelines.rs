//! What the pipelines say about a service: where it is deployed, to which environment,
//! and what runs before each deploy (a staging deploy, a security scan) or after a
//! failure (a rollback stage).

use gantry_config::{Condition, Config, Pipeline, Pos, Step, StepAction};

/// Environment names a deploy step counts as production under. A deploy step without
/// `env:` goes to the service's one address, which is production until environments land.
const PRODUCTION: [&str; 2] = ["production", "prod"];
/// The environment a production deploy must have passed first.
pub(crate) const STAGING: &str = "staging";

/// Words in a step's name or command that make it a security scan (Trivy, Grype, Snyk,
/// Semgrep, gitleaks, OSV-Scanner, Bandit, `cargo audit`/`cargo deny`, `npm audit`, …).
const SCAN_WORDS: [&str; 14] = [
    "scan",
    "audit",
    "trivy",
    "grype",
    "snyk",
    "semgrep",
    "gitleaks",
    "osv-scanner",
    "bandit",
    "deny",
    "sast",
    "codeql",
    "checkov",
    "tfsec",
];

/// One `deploy: SERVICE` step.
pub(crate) struct Deploy<'a> {
    pub pipeline: &'a str,
    pub stage: usize,
    pub step: usize,
    pub env: Option<&'a str>,
    pub pos: Pos,
}

impl Deploy<'_> {
    pub fn is_production(&self) -> bool {
        self.env.is_none_or(|e| PRODUCTION.contains(&e))
    }
    pub fn is_staging(&self) -> bool {
        self.env == Some(STAGING)
    }
}

/// Every deploy step of `service`, in pipeline-name and file order.
pub(crate) fn deploys<'a>(config: &'a Config, service: &str) -> Vec<Deploy<'a>> {
    let mut out = Vec::new();
    for (name, pipeline) in &config.pipelines {
        for (si, stage) in pipeline.stages.iter().enumerate() {
            for (ki, step) in stage.steps.iter().enumerate() {
                if let Some(StepAction::Deploy {
                    service: s,
                    environment,
                    ..
                }) = step.action()
                    && s == service
                {
                    out.push(Deploy {
                        pipeline: name,
                        stage: si,
                        step: ki,
                        env: environment,
                        pos: step.deploy.as_ref().map_or(step.pos, |d| d.pos),
                    });
                }
            }
        }
    }
    out
}

/// Whether some step that runs before `deploy` (in a stage it waits for, directly or not,
/// or earlier in its own stage) satisfies `pred`.
pub(crate) fn before(config: &Config, deploy: &Deploy<'_>, pred: impl Fn(&Step) -> bool) -> bool {
    let Some(pipeline) = config.pipelines.get(deploy.pipeline) else {
        return false;
    };
    let earlier_here = pipeline.stages[deploy.stage].steps[..deploy.step]
        .iter()
        .any(|s| pred(s));
    earlier_here
        || ancestors(pipeline, deploy.stage)
            .into_iter()
            .any(|i| pipeline.stages[i].steps.iter().any(|s| pred(s)))
}

/// Stages `stage` waits for, directly or through others.
fn ancestors(pipeline: &Pipeline, stage: usize) -> Vec<usize> {
    let Ok(deps) = pipeline.dependencies() else {
        return Vec::new();
    };
    let mut seen = vec![false; deps.len()];
    let mut todo = deps[stage].clone();
    while let Some(i) = todo.pop() {
        if !std::mem::replace(&mut seen[i], true) {
            todo.extend(&deps[i]);
        }
    }
    (0..deps.len()).filter(|&i| seen[i] && i != stage).collect()
}

/// Whether `promotion:` puts staging before the production environment `env` (`None`:
/// the production environment `promotion:` names): the control plane then refuses a
/// version in production that has not succeeded (and soaked) in staging, whatever the
/// pipelines do.
pub(crate) fn promoted_through_staging(config: &Config, env: Option<&str>) -> bool {
    let order: Vec<&str> = config.promotion.iter().map(|e| e.as_str()).collect();
    let Some(staging) = order.iter().position(|e| *e == STAGING) else {
        return false;
    };
    let production = match env {
        Some(e) => order.iter().position(|o| *o == e),
        None => order.iter().position(|o| PRODUCTION.contains(o)),
    };
    production.is_some_and(|p| staging < p)
}

/// Whether `step` deploys `service` to staging.
pub(crate) fn deploys_to_staging(step: &Step, service: &str) -> bool {
    matches!(step.action(), Some(StepAction::Deploy { service: s, environment: Some(STAGING), .. }) if s == service)
}

/// Whether `step` is a security scan, judged by the words of its name and command.
pub(crate) fn is_scan(step: &Step) -> bool {
    let mut text = step
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_default();
    if let Some(run) = &step.run {
        text.push(' ');
        text.push_str(run);
    }
    words(&text).any(|w| SCAN_WORDS.contains(&w.as_str()))
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// Whether a pipeline that deploys `service` has a rollback stage: one that runs on
/// `if: failure()` with a step that rolls back.
pub(crate) fn has_rollback_stage(config: &Config, service: &str) -> bool {
    let deploying: Vec<&str> = deploys(config, service)
        .iter()
        .map(|d| d.pipeline)
        .collect();
    deploying.iter().any(|name| {
        config.pipelines[*name].stages.iter().any(|stage| {
            stage.condition == Some(Condition::Failure)
                && stage.steps.iter().any(|s| is_rollback(s))
        })
    })
}

fn is_rollback(step: &Step) -> bool {
    let mut text = step
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_default();
    if let Some(run) = &step.run {
        text.push(' ');
        text.push_str(run);
    }
    let text = text.to_lowercase();
    text.contains("rollback") || text.contains("roll back")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, run: &str) -> Step {
        let text = format!(
            "project: t\npipelines:\n  p:\n    stages:\n      - name: s\n        steps: [ {{ name: '{name}', run: '{run}' }} ]\n"
        );
        let config = gantry_config::parse("gantry.yaml", &text).unwrap();
        config.pipelines["p"].stages[0].steps[0].value.clone()
    }

    #[test]
    fn scans_are_recognised_by_their_tools() {
        assert!(is_scan(&step("deps", "cargo audit")));
        assert!(is_scan(&step("image", "trivy fs --exit-code 1 .")));
        assert!(is_scan(&step("security scan", "./check.sh")));
        assert!(!is_scan(&step("test", "cargo test")));
        assert!(!is_scan(&step("build", "make scanner-free")));
    }
}
