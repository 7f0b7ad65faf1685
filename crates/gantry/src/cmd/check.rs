use serde_json::json;

use crate::output;
use crate::project::Project;

pub fn run(project: &Project, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let path = project.config_path();
    if json {
        return output::json(&json!({
            "ok": true,
            "config": path,
            "project": config.project,
            "agents": config.agents.keys().collect::<Vec<_>>(),
            "services": config.services.keys().collect::<Vec<_>>(),
            "pipelines": config.pipelines.keys().collect::<Vec<_>>(),
        }));
    }
    println!(
        "{}: OK ({} agents, {} services, {} pipelines)",
        path.display(),
        config.agents.len(),
        config.services.len(),
        config.pipelines.len()
    );
    Ok(())
}
