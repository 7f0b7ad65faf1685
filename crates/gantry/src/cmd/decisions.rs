//! The decision log: `gantry veto`, `gantry approve`, `gantry decisions`; the veto the
//! policy gate records; and the refusal of a deploy while a blocking veto stands.

use std::path::Path;

use clap::Args;
use gantry_policy::Report;
use gantry_state::{Decision, State};
use serde_json::json;

use crate::project::Project;
use crate::{exit, output};

/// The role the policy gate decides as.
pub const GATE_ROLE: &str = "verifier";

#[derive(Debug, Args)]
pub struct VetoArgs {
    /// The service the veto is about; a blocking veto stops its deploys
    pub service: String,
    /// Role whose key signs the veto
    #[arg(long = "as", value_name = "ROLE")]
    pub role: String,
    /// What is wrong, in one phrase (e.g. a rule name: readinessProbeMissing)
    #[arg(long)]
    pub violation: String,
    /// The specifics; repeat for several
    #[arg(long)]
    pub specifics: Vec<String>,
    /// What happens if it ships as it is
    #[arg(long, default_value = "")]
    pub impact: String,
    /// What must be true before it may ship
    #[arg(long, default_value = "")]
    pub requirement: String,
    /// What the addressee must do
    #[arg(long, default_value = "")]
    pub action_needed: String,
    /// The role (or agent) the veto is addressed to
    #[arg(long, default_value = "planner")]
    pub to: String,
    /// Record the veto without stopping deploys
    #[arg(long)]
    pub non_blocking: bool,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The service approved: its deploy awaiting approval starts; with none waiting, every
    /// blocking veto standing on it is cleared
    pub service: String,
    /// Role whose key signs: the role the environment's `approval:` names, or (to clear
    /// vetoes) one that may approve (verifier or operator)
    #[arg(long = "as", value_name = "ROLE")]
    pub role: String,
    /// The environment whose waiting deploy is approved (needed when several wait)
    #[arg(long, value_name = "E")]
    pub env: Option<String>,
    /// What was checked and why it may ship
    #[arg(long, default_value = "")]
    pub summary: String,
    /// The role (or agent) the approval is addressed to
    #[arg(long, default_value = "operator")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct DecisionsArgs {
    /// Only decisions about this service
    #[arg(long, value_name = "S")]
    pub service: Option<String>,
}

pub fn veto(project: &Project, args: &VetoArgs, json: bool) -> anyhow::Result<()> {
    known_service(project, &args.service)?;
    let body = gantry_state::decide::Veto {
        service: args.service.clone(),
        violation: args.violation.clone(),
        specifics: args.specifics.clone(),
        impact: args.impact.clone(),
        requirement: args.requirement.clone(),
        action_needed: args.action_needed.clone(),
        to: args.to.clone(),
        blocking: !args.non_blocking,
    }
    .body(&args.role);
    let seq = append(project, &args.role, "decision.veto", body)?;
    if json {
        return output::json(
            &json!({"decision": "veto", "service": args.service, "seq": seq,
            "blocking": !args.non_blocking}),
        );
    }
    println!(
        "vetoed service '{}' as {} (seq {seq}){}",
        args.service,
        args.role,
        if args.non_blocking {
            ""
        } else {
            "; its deploys are refused until a verifier or operator approves"
        }
    );
    Ok(())
}

pub fn approve(project: &Project, args: &ApproveArgs, json: bool) -> anyhow::Result<()> {
    // `web@production` names the environment too.
    let (service, named) = gantry_config::split_target(&args.service);
    let env = match (named, args.env.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return Err(exit::usage(format!(
                "'{}' names environment '{a}' but --env names '{b}'",
                args.service
            )));
        }
        (a, b) => a.or(b),
    };
    known_service(project, service)?;
    let state = project.state()?;
    let waiting = gantry_state::decide::awaiting(&state, service, env);
    match waiting.as_slice() {
        [(target, d)] => return crate::cmd::approval::grant(project, args, target, d, json),
        [] if env.is_some() => {
            return Err(exit::with_code(
                exit::CONFLICT,
                format!(
                    "no deploy of service '{service}' to '{}' awaits approval; `gantry ps --env {}` shows what runs there",
                    env.unwrap_or_default(),
                    env.unwrap_or_default()
                ),
            ));
        }
        [] => {}
        several => {
            let names: Vec<&str> = several.iter().map(|(t, _)| t.as_str()).collect();
            return Err(exit::usage(format!(
                "deploys of service '{service}' await approval in several environments ({}); name one with --env",
                names.join(", ")
            )));
        }
    }
    let roles = gantry_state::authority::APPROVER_ROLES;
    if !roles.contains(&args.role.as_str()) {
        return Err(exit::with_code(
            exit::REFUSED,
            format!(
                "role '{}' may not approve; approving roles: {}",
                args.role,
                roles.join(", ")
            ),
        ));
    }
    let body =
        gantry_state::decide::approve_body(&args.role, &args.service, &args.to, &args.summary);
    let seq = append(project, &args.role, "decision.approve", body)?;
    let state = project.state()?;
    let cleared = state
        .decisions
        .log
        .iter()
        .find(|d| d.seq == seq)
        .map(|d| d.clears.clone())
        .unwrap_or_default();
    if json {
        return output::json(
            &json!({"decision": "approve", "service": args.service, "seq": seq,
            "cleared": cleared}),
        );
    }
    println!(
        "approved service '{}' as {} (seq {seq}); cleared {} blocking veto(es)",
        args.service,
        args.role,
        cleared.len()
    );
    Ok(())
}

pub fn list(project: &Project, args: &DecisionsArgs, json: bool) -> anyhow::Result<()> {
    let state = project.state()?;
    let shown: Vec<&Decision> = state
        .decisions
        .log
        .iter()
        .filter(|d| {
            args.service
                .as_ref()
                .is_none_or(|s| d.service.as_ref() == Some(s))
        })
        .collect();
    if json {
        return output::json(&shown);
    }
    if shown.is_empty() {
        println!("no decisions recorded");
        return Ok(());
    }
    let mut table = output::table(&[
        "seq",
        "time",
        "decision",
        "from",
        "to",
        "subject",
        "violation",
        "state",
    ]);
    for d in shown {
        let standing = match (d.decision.as_str(), d.blocking, d.cleared_by) {
            ("veto", true, None) => "blocking".to_string(),
            ("veto", true, Some(by)) => format!("cleared by seq {by}"),
            ("approve", _, _) if !d.clears.is_empty() => format!("clears {:?}", d.clears),
            _ => String::new(),
        };
        table.add_row(vec![
            d.seq.to_string(),
            output::short_ts(&d.ts),
            d.decision.clone(),
            format!("{} ({})", d.from, d.agent),
            d.to.clone(),
            d.subject.clone(),
            d.violation.clone(),
            standing,
        ]);
    }
    println!("{table}");
    Ok(())
}

/// Records the gate's veto of `service` (signed by the verifier): one entry naming every
/// `danger` line. Returns the seq, or why it could not be recorded (no ledger, no key).
pub fn record_gate_veto(
    project: &Project,
    report: &Report,
    subject: &str,
    service: Option<&str>,
) -> Result<u64, String> {
    let dangers: Vec<_> = report
        .dangers()
        .filter(|v| v.service.as_deref() == service)
        .collect();
    let name = service.unwrap_or("(none named)");
    let mut rules: Vec<&str> = dangers.iter().map(|v| v.rule.as_str()).collect();
    rules.dedup();
    let body = json!({
        "from": GATE_ROLE, "to": "planner", "subject": subject, "service": service,
        "violation": rules.join(", "),
        "specifics": dangers.iter().map(|v| v.to_string()).collect::<Vec<_>>(),
        "impact": if service.is_some() {
            format!("service '{name}' is not production-ready; its deploys are refused while this veto stands")
        } else {
            "the plan is not production-ready; it names no service, so the veto blocks nothing by itself".to_string()
        },
        "requirement": dangers.iter().map(|v| v.message.as_str()).collect::<Vec<_>>().join("; "),
        "blocking": service.is_some(),
        "action_needed": format!("add what each line names, run `gantry policy check` again, then `gantry approve {name} --as verifier`"),
    });
    append(project, GATE_ROLE, "decision.veto", body).map_err(|e| format!("{e:#}"))
}

/// Refuses (exit 4, conflict) while a blocking veto stands on `service` in the project's
/// ledger; the CLI checks before it asks the control plane to deploy.
pub fn refuse_if_vetoed(project: &Project, service: &str) -> anyhow::Result<()> {
    match standing_veto(&project.ledger_path(), service) {
        Some(why) => Err(exit::with_code(exit::CONFLICT, why)),
        None => Ok(()),
    }
}

/// Why `service` may not be deployed, if a blocking veto stands on it in the ledger at
/// `ledger` (none when there is no ledger).
pub fn standing_veto(ledger: &Path, service: &str) -> Option<String> {
    let entries = gantry_ledger::read_entries(ledger).ok()?.entries;
    State::replay(&entries).decisions.veto_refusal(
        service,
        &format!("runs `gantry approve {service} --as ROLE`"),
    )
}

fn known_service(project: &Project, service: &str) -> anyhow::Result<()> {
    let config = project.config()?;
    match config.service(service) {
        Ok(_) => Ok(()),
        Err(unknown) => Err(exit::usage(unknown.to_string())),
    }
}

/// Appends one entry signed by `role`'s registered, active key.
pub(crate) fn append(
    project: &Project,
    role: &str,
    kind: &str,
    body: serde_json::Value,
) -> anyhow::Result<u64> {
    let config = project.config()?;
    let state = project.state()?;
    let (signer, _) = project.signer_for(&state, role)?;
    let ledger = project.open_ledger(&config)?;
    Ok(ledger.append(&signer, kind, body)?.seq)
}
