//! `gantry report [--rebuild]`: the outcomes report(s), generated from the ledger alone.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use gantry_config::{Config, DEFAULT_REPORT};
use gantry_pipeline::Masker;
use serde_json::json;

use crate::output;
use crate::project::Project;

/// Report path → Markdown, one per distinct report path of the configured pipelines (runs
/// of pipelines no longer configured go to the default report).
fn render_all(project: &Project, config: &Config) -> anyhow::Result<BTreeMap<String, String>> {
    let state = project.state()?;
    let path_of = |pipeline: &str| -> String {
        config
            .pipelines
            .get(pipeline)
            .map_or(DEFAULT_REPORT, |p| p.report_path())
            .to_string()
    };
    let mut paths: Vec<String> = config
        .pipelines
        .values()
        .map(|p| p.report_path().to_string())
        .collect();
    paths.extend(state.runs.runs.values().map(|r| path_of(&r.pipeline)));
    paths.sort();
    paths.dedup();
    let secrets: Vec<String> = config
        .pipelines
        .values()
        .flat_map(|p| p.secrets.clone())
        .collect();
    let masker = Masker::from_env(&secrets, &std::env::vars().collect());
    // Deployments made with `gantry deploy` (and by pipelines) go to the default report.
    let deployments = crate::cmd::history::markdown(&project.entries()?, config, &masker);
    if deployments.is_some() && !paths.iter().any(|p| p == DEFAULT_REPORT) {
        paths.push(DEFAULT_REPORT.to_string());
    }
    Ok(paths
        .into_iter()
        .map(|path| {
            let mut text = gantry_pipeline::report::render(
                &state.runs,
                |r| path_of(&r.pipeline) == path,
                &masker,
            );
            if path == DEFAULT_REPORT
                && let Some(section) = &deployments
            {
                text.push_str(section);
            }
            (path, text)
        })
        .collect())
}

/// Rewrites every report file; returns the paths written.
pub fn write_all(project: &Project, config: &Config) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, text) in render_all(project, config)? {
        let full = project.root.join(&path);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(&full, text).with_context(|| format!("cannot write {}", full.display()))?;
        written.push(full);
    }
    Ok(written)
}

pub fn run(project: &Project, rebuild: bool, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    if rebuild {
        let written = write_all(project, &config)?;
        if json {
            return output::json(&json!({"written": written}));
        }
        for path in written {
            println!("wrote {}", path.display());
        }
        return Ok(());
    }
    let reports = render_all(project, &config)?;
    if json {
        return output::json(&reports);
    }
    for (path, text) in reports {
        println!("<!-- {path} -->\n{text}");
    }
    Ok(())
}
