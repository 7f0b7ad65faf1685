//! Deployments from before this control plane started, replayed from the ledger, so that
//! `GET /v1/deployments/{id}` (and `deploy --wait` across a restart) knows every one.

use std::collections::BTreeMap;

use gantry_deploy::{DeploymentStatus, Phase, TimelineEvent};
use gantry_ledger::Entry;
use serde_json::Value;

fn text(v: &Value, name: &str) -> Option<String> {
    v.get(name).and_then(Value::as_str).map(str::to_string)
}

fn weights(body: &Value) -> BTreeMap<String, u32> {
    body.get("weights")
        .and_then(Value::as_object)
        .map(|w| {
            w.iter()
                .filter_map(|(v, n)| Some((v.clone(), u32::try_from(n.as_u64()?).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn new_status(id: String, body: &Value, strategy: String, phase: Phase) -> DeploymentStatus {
    DeploymentStatus {
        id,
        service: text(body, "service").unwrap_or_default(),
        from: text(body, "from"),
        to: text(body, "to").unwrap_or_default(),
        strategy,
        phase,
        step: 0,
        steps: body
            .get("steps")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        current: String::new(),
        waiting_for_promote: false,
        pause: None,
        plan_steps: body
            .get("steps")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        operator_paused: false,
        weights: BTreeMap::new(),
        reason: None,
        analysis: None,
        timeline: Vec::new(),
        approval: None,
    }
}

/// The approval an `approval.requested` entry asks for.
fn requested(body: &Value) -> gantry_deploy::ApprovalStatus {
    gantry_deploy::ApprovalStatus {
        role: text(body, "role").unwrap_or_default(),
        env: text(body, "env").unwrap_or_default(),
        deadline: text(body, "deadline").unwrap_or_default(),
        timeout_ms: body.get("timeout_ms").and_then(Value::as_u64).unwrap_or(0),
        state: "requested".into(),
        approved_by: None,
    }
}

/// Every deployment (and manual rollback) the ledger records, with its timeline.
pub(crate) fn replay<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
) -> BTreeMap<String, DeploymentStatus> {
    let mut out: BTreeMap<String, DeploymentStatus> = BTreeMap::new();
    for e in entries {
        let body = &e.body;
        let kind = e.kind.as_str();
        let id = match kind {
            "traffic.shifted" => text(body, "deployment"),
            k if k.starts_with("deployment.state.")
                || k.starts_with("rollback.")
                || k.starts_with("approval.") =>
            {
                text(body, "id")
            }
            _ => None,
        };
        let Some(id) = id else { continue };
        if kind == "deployment.state.started" {
            let strategy = text(body, "strategy").unwrap_or_default();
            out.insert(
                id.clone(),
                new_status(id.clone(), body, strategy, Phase::Started),
            );
        } else if kind == "rollback.planned" {
            let status = new_status(id.clone(), body, "rollback".into(), Phase::Progressing);
            out.insert(id.clone(), status);
        } else if kind == "approval.requested" {
            let strategy = text(body, "strategy").unwrap_or_default();
            let mut status = new_status(id.clone(), body, strategy, Phase::AwaitingApproval);
            status.approval = Some(requested(body));
            out.insert(id.clone(), status);
        }
        let Some(d) = out.get_mut(&id) else { continue };
        let line = if let Some(phase) = kind
            .strip_prefix("deployment.state.")
            .and_then(Phase::from_name)
        {
            d.phase = phase;
            d.waiting_for_promote = false;
            if let Some(r) = text(body, "reason") {
                d.reason = Some(r);
            }
            match text(body, "reason") {
                Some(r) => format!("{}: {r}", phase.name().replace('_', " ")),
                None => phase.name().replace('_', " "),
            }
        } else if kind == "traffic.shifted" {
            d.weights = weights(body);
            let w: Vec<String> = d.weights.iter().map(|(v, n)| format!("{v}={n}")).collect();
            format!("traffic {}", w.join(" "))
        } else if let Some(what) = kind.strip_prefix("approval.") {
            let by = format!("{} ({})", e.actor.role, e.actor.id);
            let a = d.approval.get_or_insert_with(|| requested(body));
            match what {
                "requested" => format!("awaiting approval by {} until {}", a.role, a.deadline),
                "granted" => {
                    a.state = "granted".into();
                    a.approved_by = Some(by.clone());
                    format!("approved by {by}")
                }
                "expired" => {
                    a.state = "expired".into();
                    format!(
                        "approval expired: {}",
                        text(body, "reason").unwrap_or_default()
                    )
                }
                other => format!("approval {other}"),
            }
        } else if kind == "rollback.triggered" {
            format!(
                "rollback to {} triggered",
                text(body, "to").unwrap_or_default()
            )
        } else {
            kind.replace('.', " ")
        };
        d.timeline.push(TimelineEvent {
            ts: e.ts.clone(),
            seq: e.seq,
            kind: kind.to_string(),
            text: line,
        });
    }
    out
}
