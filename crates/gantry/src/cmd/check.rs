use serde_json::json;

use crate::cmd::policy;
use crate::project::Project;

pub fn run(project: &Project, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let path = project.config_path();
    let report = policy::gate_config(project, &config);
    if json {
        return policy::finish(&report, "gantry.yaml", true, |mut value| {
            value["config"] = json!(path);
            value["project"] = json!(config.project);
            value["agents"] = json!(config.agents.keys().collect::<Vec<_>>());
            value["services"] = json!(config.services.keys().collect::<Vec<_>>());
            value["pipelines"] = json!(config.pipelines.keys().collect::<Vec<_>>());
            value
        });
    }
    policy::finish(&report, "gantry.yaml", false, |v| v)?;
    println!(
        "{}: OK ({} agents, {} services, {} pipelines)",
        path.display(),
        config.agents.len(),
        config.services.len(),
        config.pipelines.len()
    );
    Ok(())
}
