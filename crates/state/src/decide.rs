//! The bodies of the decision entries agents write (`decision.veto`, `decision.approve`,
//! `approval.granted`) and whether the rule table would admit them, shared by the CLI
//! (`gantry veto` / `gantry approve`) and the control plane's API and MCP tools, so an
//! entry written either way is the same entry.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{DeploymentView, State};

/// A veto of a service, with the fields agents exchange.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Veto {
    pub service: String,
    pub violation: String,
    #[serde(default)]
    pub specifics: Vec<String>,
    #[serde(default)]
    pub impact: String,
    #[serde(default)]
    pub requirement: String,
    #[serde(default)]
    pub action_needed: String,
    #[serde(default = "planner")]
    pub to: String,
    #[serde(default = "yes")]
    pub blocking: bool,
}

fn planner() -> String {
    "planner".into()
}

fn yes() -> bool {
    true
}

impl Veto {
    /// The `decision.veto` body, as `role` writes it.
    pub fn body(&self, role: &str) -> Value {
        json!({
            "from": role, "to": self.to, "subject": format!("service {}", self.service),
            "service": self.service, "violation": self.violation, "specifics": self.specifics,
            "impact": self.impact, "requirement": self.requirement,
            "blocking": self.blocking, "action_needed": self.action_needed,
        })
    }
}

/// The `decision.approve` body of `service` by `role`: it clears every blocking veto
/// standing on the service.
pub fn approve_body(role: &str, service: &str, to: &str, summary: &str) -> Value {
    json!({
        "from": role, "to": to, "subject": format!("service {service}"),
        "service": service, "violation": "", "specifics": [summary],
        "impact": "", "requirement": "", "blocking": false, "action_needed": "",
    })
}

/// Why `role` may not write an entry of `kind` with `body` now, if the rule table
/// ([`crate::authority`]) would refuse it: asked before writing, so a refused call writes
/// nothing but its refusal.
pub fn refusal(state: &State, role: &str, kind: &str, body: &Value) -> Option<String> {
    let probe = gantry_ledger::Entry {
        seq: 0,
        ts: String::new(),
        kind: kind.to_string(),
        actor: gantry_ledger::Actor {
            role: role.to_string(),
            id: String::new(),
            key: String::new(),
        },
        body: body.clone(),
        prev: String::new(),
        hash: String::new(),
        sig: String::new(),
    };
    crate::authority::judge(state, &probe)
        .err()
        .map(|r| r.reason)
}

/// The deployments of `service` (in `env`, if named) that wait for approval now, with
/// their target (`web@production`).
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

/// `web@production` → (`web`, `production`); `web` → (`web`, none).
fn split_target(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((s, e)) => (s, Some(e)),
        None => (name, None),
    }
}

/// Why granting the approval `d` (of `target`) waits for as `role` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRefused {
    /// Another role must approve: the one named.
    WrongRole { needed: String, message: String },
    /// The wait ended (no approval waits, or its deadline passed).
    NotWaiting(String),
}

/// The `approval.granted` body for deployment `d` of `target`, granted by `role`;
/// `is_past` says whether the request's deadline (RFC 3339) has passed (the clock is the
/// caller's).
pub fn grant_body(
    target: &str,
    d: &DeploymentView,
    role: &str,
    summary: &str,
    is_past: impl Fn(&str) -> bool,
) -> Result<Value, GrantRefused> {
    let (service, env) = split_target(target);
    let env = env.unwrap_or_default();
    let Some(a) = d.approval.as_ref() else {
        return Err(GrantRefused::NotWaiting(format!(
            "deployment {} awaits no approval",
            d.id
        )));
    };
    if a.role != role {
        return Err(GrantRefused::WrongRole {
            needed: a.role.clone(),
            message: format!(
                "deployment {} of service '{service}' ({} → {}) to '{env}' awaits approval by role '{}', not '{role}'",
                d.id,
                d.from.as_deref().unwrap_or("nothing"),
                d.to,
                a.role,
            ),
        });
    }
    if is_past(&a.deadline) {
        return Err(GrantRefused::NotWaiting(format!(
            "the approval deployment {} waited for expired at {}; deploy again to ask for a new one",
            d.id, a.deadline
        )));
    }
    Ok(
        json!({"id": d.id, "service": target, "env": env, "version": d.to,
        "role": role, "summary": summary}),
    )
}
