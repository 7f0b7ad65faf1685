//! `gantry history SERVICE`: the service's deployments from the ledger (no control plane
//! needed), newest last.

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::project::Project;
use crate::{exit, output};

pub fn run(project: &Project, service: &str, json: bool) -> anyhow::Result<()> {
    let entries = project.entries()?;
    let (_, admitted) = gantry_state::State::replay_admitted(&entries);
    let revisions = gantry_state::history(admitted, service);
    if revisions.is_empty() {
        let known = project
            .config()
            .map(|c| c.services.contains_key(service))
            .unwrap_or(false);
        if !known {
            return Err(exit::usage(format!(
                "no service '{service}' in gantry.yaml and no deployments of it in the ledger"
            )));
        }
    }
    if json {
        let docs: Vec<_> = revisions
            .iter()
            .map(|r| {
                let mut doc = serde_json::to_value(r).unwrap_or_default();
                doc["duration_ms"] = json!(duration_ms(&r.started_at, &r.updated_at));
                doc
            })
            .collect();
        return output::json(&json!({"service": service, "revisions": docs}));
    }
    if revisions.is_empty() {
        output::print(&format!(
            "{service}: not deployed yet (`gantry deploy {service} --version V`)\n"
        ));
        return Ok(());
    }
    let mut table = output::table(&[
        "rev",
        "id",
        "from → to",
        "strategy",
        "outcome",
        "by",
        "started",
        "took",
        "reason",
    ]);
    for r in &revisions {
        let took = duration_ms(&r.started_at, &r.updated_at)
            .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
        table.add_row(vec![
            r.revision.to_string(),
            r.id.clone(),
            format!(
                "{} → {}{}",
                r.from.as_deref().unwrap_or("nothing"),
                r.to,
                // A git tag: the commit it was built from.
                r.commit
                    .as_deref()
                    .map_or(String::new(), |c| format!(" @ {}", &c[..c.len().min(12)]))
            ),
            r.strategy.replace('_', "-"),
            if r.in_progress {
                format!("{} (running)", r.outcome.replace('_', " "))
            } else {
                r.outcome.replace('_', " ")
            },
            r.started_by.clone(),
            output::short_ts(&r.started_at),
            took,
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    output::print(&format!("{table}\n"));
    Ok(())
}

fn duration_ms(from: &str, to: &str) -> Option<i64> {
    let from = OffsetDateTime::parse(from, &Rfc3339).ok()?;
    let to = OffsetDateTime::parse(to, &Rfc3339).ok()?;
    i64::try_from((to - from).whole_milliseconds()).ok()
}

/// The outcomes report's section of deployments (every service's, `gantry deploy` or
/// pipeline alike), or `None` when nothing was ever deployed. Built from the ledger alone,
/// so a rebuild gives the same bytes.
pub fn markdown(
    entries: &[gantry_ledger::Entry],
    config: &gantry_config::Config,
    masker: &gantry_pipeline::Masker,
) -> Option<String> {
    let (_, admitted) = gantry_state::State::replay_admitted(entries);
    let mut services: Vec<String> = config.services.keys().cloned().collect();
    services.extend(
        admitted
            .iter()
            .filter(|e| e.kind == "deployment.state.started")
            .filter_map(|e| e.body["service"].as_str().map(str::to_string)),
    );
    services.sort();
    services.dedup();
    let mut rows = String::new();
    for service in &services {
        for r in gantry_state::history(admitted.iter().copied(), service) {
            if r.in_progress {
                continue;
            }
            let took = duration_ms(&r.started_at, &r.updated_at)
                .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0));
            let cell = |s: &str| masker.mask(s).replace('|', "\\|").replace('\n', " ");
            rows.push_str(&format!(
                "| {} | {service} | {} | {} → {} | {} | {} | {} | {took} | {} |\n",
                output::short_ts(&r.started_at),
                r.revision,
                r.from.as_deref().unwrap_or("nothing"),
                r.to,
                r.strategy.replace('_', "-"),
                r.outcome.replace('_', " "),
                cell(&r.started_by),
                cell(r.reason.as_deref().unwrap_or("")),
            ));
        }
    }
    (!rows.is_empty()).then(|| {
        format!(
            "\n## Deployments\n\n\
             | date | service | rev | from → to | strategy | outcome | by | took | reason |\n\
             |---|---|---|---|---|---|---|---|---|\n{rows}"
        )
    })
}
