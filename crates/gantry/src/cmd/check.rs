use serde_json::json;

use crate::cmd::policy;
use crate::output;
use crate::project::Project;

pub fn run(project: &Project, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let path = project.config_path();
    let file = path.display().to_string();
    let warnings = warnings(project, &config);
    let report = policy::gate_config(project, &config);
    if json {
        let warnings: Vec<_> = warnings
            .iter()
            .map(|w| {
                json!({
                    "file": file, "line": w.pos.line, "column": w.pos.column,
                    "code": w.code, "message": w.message,
                })
            })
            .collect();
        return policy::finish(&report, "gantry.yaml", true, |mut value| {
            value["config"] = json!(path);
            value["project"] = json!(config.project);
            value["agents"] = json!(config.agents.keys().collect::<Vec<_>>());
            value["services"] = json!(config.services.keys().collect::<Vec<_>>());
            value["pipelines"] = json!(config.pipelines.keys().collect::<Vec<_>>());
            value["warnings"] = json!(warnings);
            value
        });
    }
    for w in &warnings {
        eprintln!(
            "warning: {file}:{}:{}: {}",
            w.pos.line, w.pos.column, w.message
        );
    }
    policy::finish(&report, "gantry.yaml", false, |v| v)?;
    output::print(&format!(
        "{file}: OK ({}, {}, {}{})\n",
        count(config.agents.len(), "agent"),
        count(config.services.len(), "service"),
        count(config.pipelines.len(), "pipeline"),
        match warnings.len() {
            0 => String::new(),
            n => format!("; {}", count(n, "warning")),
        }
    ));
    Ok(())
}

/// `1 service`, `2 services`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The config's own warnings, and a `manual:` role without a key to sign with (which only
/// the project, not gantry.yaml, can tell).
fn warnings(project: &Project, config: &gantry_config::Config) -> Vec<gantry_config::Warning> {
    let path = std::env::var("PATH").ok();
    let mut out = gantry_config::warnings(config, &project.root, path.as_deref());
    for (role, agent) in &config.agents {
        if !agent.manual {
            continue;
        }
        let from_env = agent
            .key_env
            .as_deref()
            .is_some_and(|var| std::env::var_os(var).is_some());
        if from_env {
            continue;
        }
        if let Err(why) = project.keys().load(role) {
            out.push(gantry_config::Warning {
                pos: agent.pos,
                code: "gantry::config::manual_without_key",
                message: format!(
                    "role '{role}' is `manual: true`, but `gantry sign --as {role}` will fail: {why}"
                ),
            });
        }
    }
    out.sort_by_key(|w| (w.pos.line, w.pos.column));
    out
}
