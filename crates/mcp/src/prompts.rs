//! The prompts agents are asked most — set up my environment, fix a CI failure, deploy to
//! production, roll back — each this project's checklist with its real commands, made
//! from gantry.yaml as it is now (services, releases, pipelines and their steps).

use std::path::Path;

use gantry_config::Config;
use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, JsonObject, Prompt, PromptArgument, PromptMessage, Role};

/// The prompts' names and what each is for.
const PROMPTS: &[(&str, &str)] = &[
    (
        "setup_environment",
        "Set up my environment: check the config, start the control plane, make a token, see the services",
    ),
    (
        "fix_ci_failure",
        "Fix a CI failure: find the failed run and step, read its log, fix, run again",
    ),
    (
        "deploy_to_production",
        "Deploy to production: gate, deploy with canary analysis, watch, promote or roll back",
    ),
    (
        "roll_back",
        "Roll back: dry run first, then roll back, then verify",
    ),
];

pub fn list() -> Vec<Prompt> {
    PROMPTS
        .iter()
        .map(|(name, what)| {
            let service = PromptArgument::new("service")
                .with_description("A service of gantry.yaml (default: every service)")
                .with_required(false);
            Prompt::new(*name, Some(*what), Some(vec![service]))
        })
        .collect()
}

pub fn get(
    config_file: &Path,
    name: &str,
    args: Option<&JsonObject>,
) -> Result<GetPromptResult, ErrorData> {
    let Some((_, what)) = PROMPTS.iter().find(|(n, _)| *n == name) else {
        return Err(ErrorData::invalid_params(
            format!(
                "no prompt '{name}'; prompts: {}",
                PROMPTS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ));
    };
    let config = gantry_config::load(config_file).map_err(|e| {
        ErrorData::internal_error(format!("cannot read {}: {e}", config_file.display()), None)
    })?;
    let service = args.and_then(|a| a.get("service")).and_then(|v| v.as_str());
    if let Some(s) = service
        && !config.services.contains_key(s)
    {
        return Err(ErrorData::invalid_params(
            format!(
                "gantry.yaml has no service '{s}'; services: {}",
                config
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None,
        ));
    }
    let text = checklist(&config, name, service);
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(*what),
    )
}

/// The services a checklist is about, with their releases (newest last, as written).
fn services<'a>(config: &'a Config, only: Option<&'a str>) -> Vec<(&'a str, Vec<&'a str>)> {
    config
        .services
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == name.as_str()))
        .map(|(name, s)| {
            (
                name.as_str(),
                s.releases.keys().map(String::as_str).collect(),
            )
        })
        .collect()
}

/// The checklist text for prompt `name`.
pub fn checklist(config: &Config, name: &str, only: Option<&str>) -> String {
    let project = &config.project;
    let services = services(config, only);
    let mut out = Vec::new();
    let mut line = |s: String| out.push(s);
    match name {
        "setup_environment" => {
            line(format!("# Set up the environment of project `{project}`"));
            line(
                "1. `gantry check` — the config must pass (file:line:column on any error).".into(),
            );
            line("2. `gantry serve --detach` — start the control plane (its address is in .gantry/serve.json).".into());
            line("3. `gantry token create --role operator --name agent` — a token for the agent; export it as GANTRY_TOKEN.".into());
            line("4. `gantry ps` and `gantry status` — every service and its health.".into());
            for (s, releases) in &services {
                line(format!("   - `{s}`: releases {}", releases.join(", ")));
            }
            if !config.pipelines.is_empty() {
                line(format!(
                    "5. Pipelines: {}.",
                    config
                        .pipelines
                        .keys()
                        .map(|p| format!("`gantry run {p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        "fix_ci_failure" => {
            line(format!("# Fix a CI failure in project `{project}`"));
            line("1. `gantry runs` — find the failed run and its failed step.".into());
            line(
                "2. `gantry logs last` (or `gantry logs RUN STEP`) — read the failing step's log."
                    .into(),
            );
            line("3. Reproduce the step's command locally, fix the cause, commit.".into());
            for (p, pipeline) in &config.pipelines {
                line(format!("   Pipeline `{p}`:"));
                for stage in &pipeline.stages {
                    for step in &stage.steps {
                        if let Some(run) = &step.run {
                            line(format!("   - {}: `{}`", stage.name.as_str(), run.as_str()));
                        } else if let Some(svc) = &step.deploy {
                            line(format!(
                                "   - {}: deploy `{}`",
                                stage.name.as_str(),
                                svc.as_str()
                            ));
                        }
                    }
                }
            }
            line(format!(
                "4. Run it again: {} (or `gantry run --resume RUN` to go on from the failed step).",
                match config.pipelines.keys().next() {
                    Some(p) => format!("`gantry run {p}`"),
                    None => "no pipeline is defined in gantry.yaml".to_string(),
                }
            ));
        }
        "deploy_to_production" => {
            line(format!("# Deploy project `{project}` to production"));
            line(
                "1. `gantry check` and `gantry policy check` — no `danger` line may remain.".into(),
            );
            line("2. `gantry status` — must be OPERATIONAL before you start.".into());
            for (s, releases) in &services {
                let strategy = &config.services[*s].strategy;
                let latest = releases.last().copied().unwrap_or("VERSION");
                line(format!(
                    "3. `gantry deploy {s} --version {latest} --wait` ({:?} strategy; analysis rolls a bad release back on its own).",
                    strategy.kind()
                ));
                line(format!(
                    "4. Watch it: `gantry ps`; at a pause `gantry promote {s}`; if in doubt `gantry abort {s}`."
                ));
            }
            line("5. `gantry ledger verify` — the deployment is recorded and signed.".into());
        }
        _ => {
            line(format!("# Roll back in project `{project}`"));
            for (s, _) in &services {
                line(format!(
                    "1. `gantry rollback {s} --dry-run` — see which version it returns to, and what changes."
                ));
                line(format!(
                    "2. `gantry rollback {s} --wait` — return to it (or `--to VERSION`)."
                ));
                line(format!(
                    "3. `gantry ps` and `gantry history {s}` — the stable version serves all traffic."
                ));
            }
            line("If everything is on fire: `gantry stop` (emergency stop, every service answers 503), then `gantry start`.".into());
        }
    }
    out.join("\n")
}
