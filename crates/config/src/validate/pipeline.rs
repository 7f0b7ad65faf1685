//! Checks of `pipelines:`: stage names, needs, cycles, steps, checkpoints.

use std::collections::BTreeMap;

use super::{Problems, did_you_mean, list};
use crate::order::find_cycle;
use crate::{Config, Pipeline, Pos, Step};

pub(super) fn check_pipelines(config: &Config, p: &mut Problems<'_>) {
    for (name, pipeline) in &config.pipelines {
        if pipeline.stages.is_empty() {
            p.add(
                pipeline.pos,
                "gantry::config::no_stages",
                "no stages",
                format!("pipeline '{name}' has no stages"),
            );
        }
        check_stage_graph(name, pipeline, p);
        for stage in &pipeline.stages {
            for step in &stage.steps {
                check_step(config, &stage.name, step.pos, step, p);
            }
            if let Some(checkpoint) = &stage.checkpoint
                && !config.agents.contains_key(checkpoint.role.as_str())
            {
                p.add(
                    checkpoint.role.pos,
                    "gantry::config::unknown_role",
                    "unknown role",
                    format!(
                        "checkpoint of stage '{}' names role '{}', which is not in `agents` (roles: {}){}",
                        stage.name.value,
                        checkpoint.role.value,
                        list(config.agents.keys().map(String::as_str)),
                        did_you_mean(&checkpoint.role, config.agents.keys().map(String::as_str)),
                    ),
                );
            }
        }
    }
}

fn check_stage_graph(pipeline_name: &str, pipeline: &Pipeline, p: &mut Problems<'_>) {
    let mut first_at: BTreeMap<&str, Pos> = BTreeMap::new();
    for stage in &pipeline.stages {
        if let Some(first) = first_at.get(stage.name.as_str()) {
            p.add(
                stage.name.pos,
                "gantry::config::duplicate_stage",
                "duplicate name",
                format!(
                    "pipeline '{pipeline_name}' already has a stage named '{}' (line {})",
                    stage.name.value, first.line
                ),
            );
        } else {
            first_at.insert(&stage.name, stage.name.pos);
        }
    }
    let names = || pipeline.stages.iter().map(|s| s.name.as_str());
    // Dependency edges, skipping unknown names (reported here).
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(pipeline.stages.len());
    for (i, stage) in pipeline.stages.iter().enumerate() {
        let Some(needs) = &stage.needs else {
            deps.push(i.checked_sub(1).into_iter().collect());
            continue;
        };
        let mut edges = Vec::new();
        for need in needs {
            match pipeline.stage_index(need) {
                Some(j) => edges.push(j),
                None => p.add(
                    need.pos,
                    "gantry::config::unknown_stage",
                    "unknown stage",
                    format!(
                        "stage '{}' needs '{}', which is not a stage of pipeline '{pipeline_name}' (stages: {}){}",
                        stage.name.value,
                        need.value,
                        list(names()),
                        did_you_mean(need, names()),
                    ),
                ),
            }
        }
        deps.push(edges);
    }
    if let Some(cycle) = find_cycle(&deps) {
        let path: Vec<&str> = cycle
            .iter()
            .map(|&i| pipeline.stages[i].name.as_str())
            .collect();
        // Point at an explicit `needs` entry on the cycle (implicit edges only go backwards,
        // so a cycle always has one).
        let pos = cycle
            .windows(2)
            .find_map(|w| {
                let needs = pipeline.stages[w[0]].needs.as_ref()?;
                let target = pipeline.stages[w[1]].name.as_str();
                needs.iter().find(|n| n.as_str() == target).map(|n| n.pos)
            })
            .unwrap_or(pipeline.stages[cycle[0]].name.pos);
        p.add(
            pos,
            "gantry::config::stage_cycle",
            "closes a cycle",
            format!(
                "stages of pipeline '{pipeline_name}' form a cycle: {}",
                path.join(" -> ")
            ),
        );
    }
}

fn check_step(config: &Config, stage: &str, pos: Pos, step: &Step, p: &mut Problems<'_>) {
    super::smoke::check_smoke(config, stage, step, p);
    let keys = step.action_keys();
    match keys.as_slice() {
        [] => p.add(
            pos,
            "gantry::config::step_action",
            "no action",
            format!(
                "step in stage '{stage}' has no action; give exactly one of run, deploy, smoke, doctor or status"
            ),
        ),
        [_] => {}
        [_, (_, second), ..] => p.add(
            *second,
            "gantry::config::step_action",
            "second action",
            format!(
                "step in stage '{stage}' has several actions ({}); give exactly one of run, deploy, smoke, doctor or status",
                keys.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
            ),
        ),
    }
    if let Some(service_name) = &step.deploy {
        match config.services.get(service_name.as_str()) {
            None => p.add(
                service_name.pos,
                "gantry::config::unknown_service",
                "unknown service",
                format!(
                    "step in stage '{stage}' deploys '{}', which is not in `services` (services: {}){}",
                    service_name.value,
                    list(config.services.keys().map(String::as_str)),
                    did_you_mean(service_name, config.services.keys().map(String::as_str)),
                ),
            ),
            Some(service) => {
                if let Some(version) = &step.version
                    && !service.releases.contains_key(version.as_str())
                {
                    p.add(
                        version.pos,
                        "gantry::config::unknown_version",
                        "unknown release",
                        format!(
                            "service '{}' has no release '{}' (releases: {})",
                            service_name.value,
                            version.value,
                            list(service.releases.keys().map(String::as_str)),
                        ),
                    );
                }
            }
        }
    } else {
        let deploy_only = [
            ("version", step.version.as_ref().map(|v| v.pos)),
            ("strategy", step.strategy.as_ref().map(|v| v.pos)),
            ("env", step.env.target().map(|_| step.env.pos)),
        ];
        for (field, at) in deploy_only {
            if let Some(at) = at {
                let hint = if field == "env" {
                    "; for environment variables write a mapping (env: { NAME: value })"
                } else {
                    ""
                };
                p.add(
                    at,
                    "gantry::config::deploy_only",
                    "deploy only",
                    format!(
                        "`{field}: <name>` applies only to deploy steps (stage '{stage}'){hint}"
                    ),
                );
            }
        }
    }
}
