//! `gantry plan`: the deployment plan for one service, as JSON in the shape production
//! agents exchange (schemas/plan.schema.json); `gantry policy check --plan -` gates it.

use clap::Args;
use gantry_policy::PlanOptions;
use time::format_description::well_known::Rfc3339;

use crate::exit;
use crate::output;
use crate::project::Project;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The environment the plan ends in
    #[arg(long, default_value = "production", value_name = "E")]
    pub env: String,
    /// The service to plan for (default: the only service)
    #[arg(long, value_name = "S")]
    pub service: Option<String>,
    /// The work item the deploy belongs to (default: the project name)
    #[arg(long, value_name = "ID")]
    pub epic_id: Option<String>,
    /// Which attempt at the epic this plan is
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub iteration: u64,
}

pub fn run(project: &Project, args: &PlanArgs) -> anyhow::Result<()> {
    let config = project.config()?;
    let service = match (&args.service, config.services.len()) {
        (Some(s), _) => s.clone(),
        (None, 1) => config.services.keys().next().cloned().unwrap_or_default(),
        (None, 0) => return Err(exit::usage("gantry.yaml has no services to plan for")),
        (None, _) => {
            return Err(exit::usage(format!(
                "several services; choose one with --service ({})",
                config
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let options = PlanOptions {
        environment: args.env.clone(),
        epic_id: args.epic_id.clone(),
        iteration: args.iteration,
        timestamp: time::OffsetDateTime::now_utc().format(&Rfc3339)?,
    };
    let plan = gantry_policy::plan_for(&config, &service, &options).map_err(exit::usage)?;
    output::json(&plan)
}
