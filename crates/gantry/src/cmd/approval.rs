//! `gantry approve SERVICE --env E --as ROLE` for a deploy that waits for its environment's
//! approval: the grant is an `approval.granted` entry signed by ROLE's key, which the
//! control plane finds in the ledger and then starts the deployment. Refused, before
//! anything is written, when ROLE is not the role the environment names.

use std::time::SystemTime;

use gantry_config::split_target;
use gantry_state::{DeploymentView, State};
use serde_json::{Value, json};

use crate::cmd::decisions::ApproveArgs;
use crate::project::Project;
use crate::{exit, output};

/// The deployments of `service` (in `env`, if named) that wait for approval now.
pub fn awaiting(state: &State, service: &str, env: Option<&str>) -> Vec<(String, DeploymentView)> {
    state
        .services
        .services
        .iter()
        .filter(|(name, _)| {
            let (s, e) = split_target(name);
            s == service && env.is_none_or(|want| e == Some(want))
        })
        .filter_map(|(name, v)| {
            let d = v.deployment.clone()?;
            let waiting = d.awaiting_approval()
                && d.approval.as_ref().is_some_and(|a| a.state == "requested");
            waiting.then(|| (name.clone(), d))
        })
        .collect()
}

/// Grants the approval deployment `d` of `target` waits for, as `args.role`.
pub fn grant(
    project: &Project,
    args: &ApproveArgs,
    target: &str,
    d: &DeploymentView,
    json: bool,
) -> anyhow::Result<()> {
    let (service, env) = split_target(target);
    let env = env.unwrap_or_default();
    let Some(a) = d.approval.as_ref() else {
        return Err(exit::with_code(
            exit::CONFLICT,
            format!("deployment {} awaits no approval", d.id),
        ));
    };
    if a.role != args.role {
        return Err(exit::with_code(
            exit::REFUSED,
            format!(
                "deployment {} of service '{service}' ({} → {}) to '{env}' awaits approval by role '{}', not '{}'; run `gantry approve {service} --env {env} --as {}`",
                d.id,
                d.from.as_deref().unwrap_or("nothing"),
                d.to,
                a.role,
                args.role,
                a.role
            ),
        ));
    }
    if parse_ts(&a.deadline).is_some_and(|t| t <= SystemTime::now()) {
        return Err(exit::with_code(
            exit::CONFLICT,
            format!(
                "the approval deployment {} waited for expired at {}; deploy again to ask for a new one",
                d.id, a.deadline
            ),
        ));
    }
    let body = json!({"id": d.id, "service": target, "env": env, "version": d.to,
        "role": args.role, "summary": args.summary});
    let seq = crate::cmd::decisions::append(project, &args.role, "approval.granted", body)?;
    if json {
        return output::json(&json!({"decision": "approval", "deployment": d.id,
            "service": target, "env": env, "version": d.to, "role": args.role, "seq": seq}));
    }
    println!(
        "approved deployment {} of service '{service}' ({} → {}) to '{env}' as {} (seq {seq}); the control plane starts it now",
        d.id,
        d.from.as_deref().unwrap_or("nothing"),
        d.to,
        args.role
    );
    Ok(())
}

fn parse_ts(ts: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(SystemTime::from)
}

/// `awaiting approval by ROLE (expires in 9m58s)` for a deployment (API JSON) that waits.
pub fn waiting(d: &Value) -> Option<String> {
    if d["phase"] != "awaiting_approval" {
        return None;
    }
    let a = &d["approval"];
    let left = a["deadline"]
        .as_str()
        .and_then(parse_ts)
        .and_then(|t| t.duration_since(SystemTime::now()).ok())
        .unwrap_or_default();
    Some(format!(
        "awaiting approval by {} (expires in {})",
        a["role"].as_str().unwrap_or("?"),
        gantry_config::approximate(left)
    ))
}
