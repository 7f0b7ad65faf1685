//! Start-up from the ledger: orphans of a previous control plane are killed (recognised by
//! process group and `GANTRY_INSTANCE`), each service is served again by its stable version,
//! and a deployment the restart interrupted is rolled back (default) or resumed
//! (`on_restart: resume`).

use std::sync::Arc;

use gantry_config::OnRestart;
use gantry_deploy::{Phase, PriorInstance, Reclaimed, plan_deploy};
use gantry_state::State;
use serde_json::json;

use crate::app::{App, By};
use crate::deployment::Deployment;

/// What reclaiming left running: adopted instance ids by service.
pub(crate) type AdoptedIds = std::collections::BTreeMap<String, Vec<String>>;

/// Hands every instance the previous control plane left to the driver: an instance of the
/// service's stable version is adopted if the driver verifies it is that very process
/// (so traffic comes back without a cold start); everything else is killed (recognised by
/// the driver's own means, never a stranger's process). Returns the recorded outcomes.
pub(crate) async fn reclaim_orphans(
    app: &App,
    state: &State,
) -> (Vec<serde_json::Value>, AdoptedIds) {
    let mut out = Vec::new();
    let mut adopted = AdoptedIds::new();
    for (service, view) in &state.services.services {
        let stable = view
            .stable
            .as_deref()
            .filter(|_| !state.services.emergency_stop);
        for (instance, inst) in &view.instances {
            let prior = PriorInstance {
                service: service.clone(),
                version: inst.version.clone(),
                instance: instance.clone(),
                pid: inst.pid.and_then(|p| u32::try_from(p).ok()),
                pgid: inst.pgid.and_then(|p| i32::try_from(p).ok()),
                addr: inst.addr.as_deref().and_then(|a| a.parse().ok()),
                start_time: inst.start_time,
            };
            let spec = if stable == Some(inst.version.as_str()) {
                app.spec(service, &inst.version).ok()
            } else {
                None
            };
            let outcome = app.driver.reclaim(prior.clone(), spec).await;
            let mut body = json!({"service": service, "instance": instance, "version": inst.version,
                "pid": prior.pid, "pgid": prior.pgid, "result": outcome.name()});
            let kind = match &outcome {
                Reclaimed::Adopted => {
                    // What identifies it again after another crash.
                    body["addr"] = json!(inst.addr);
                    body["port"] = json!(prior.addr.map(|a| a.port()));
                    body["start_time"] = json!(prior.start_time);
                    body["restarts"] = json!(inst.restarts);
                    adopted
                        .entry(service.clone())
                        .or_default()
                        .push(instance.clone());
                    "instance.adopted"
                }
                Reclaimed::Killed { reason } => {
                    body["reason"] = json!(reason);
                    "instance.killed"
                }
                _ => "instance.killed",
            };
            app.record(By::System, kind, body.clone()).await;
            out.push(body);
        }
    }
    (out, adopted)
}

/// Sets each service's stable version, history and deployment counter from the ledger,
/// before any call is taken: ids then continue the ledger's and never repeat.
pub(crate) fn seed(app: &App, state: &State) {
    let mut svcs = app.svcs();
    for (name, svc) in &app.config.services {
        let view = state.services.services.get(name);
        let s = svcs.entry(name.clone()).or_default();
        s.stable = view
            .and_then(|v| v.stable.clone())
            .filter(|v| svc.releases.contains_key(v));
        s.history = view.map(|v| v.history.clone()).unwrap_or_default();
        s.deployments = view.map_or(0, |v| v.deployments);
    }
}

/// Restores every service and settles interrupted deployments.
pub(crate) async fn restore(
    app: &Arc<App>,
    state: &State,
    killed: Vec<serde_json::Value>,
    adopted: AdoptedIds,
) {
    let emergency = state.services.emergency_stop;
    let mut settled = Vec::new();
    let mut restored = Vec::new();
    for (name, svc) in &app.config.services {
        let view = state.services.services.get(name);
        let mut stable = view
            .and_then(|v| v.stable.clone())
            .filter(|v| svc.releases.contains_key(v));
        let interrupted = view
            .and_then(|v| v.deployment.clone())
            .filter(|d| d.in_progress());
        let mut resume = None;
        if let Some(d) = &interrupted {
            let dep = Arc::new(Deployment::new(
                d.id.clone(),
                plan_deploy(name, svc, d.from.as_deref(), &d.to, &svc.strategy),
            ));
            if svc.on_restart == OnRestart::Resume && !emergency && d.strategy != "rollback" {
                resume = Some(Arc::clone(&dep));
            } else if let Some(from) = d.from.clone() {
                dep.enter(app, Phase::RolledBack, By::System,
                    json!({"to": from, "reason": "the control plane restarted during the deployment"}),
                    format!("rolled back to {from} after a control-plane restart")).await;
                stable = Some(from.clone());
                app.svcs().entry(name.clone()).or_default().stable = Some(from);
            } else {
                dep.enter(
                    app,
                    Phase::Failed,
                    By::System,
                    json!({"reason": "the control plane restarted during the first deployment"}),
                    "failed: control plane restarted".into(),
                )
                .await;
            }
            // Its status carries the timeline from before the restart on.
            if resume.is_none() {
                let mut past = app.past.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(p) = past.get_mut(&d.id) {
                    let now = dep.status();
                    p.phase = now.phase;
                    p.reason = now.reason;
                    p.waiting_for_promote = false;
                    p.timeline.extend(now.timeline);
                }
            }
            settled.push(
                json!({"id": d.id, "action": if resume.is_some() { "resume" } else { "rollback" }}),
            );
        }
        if emergency {
            app.publish(name, |_| {});
            continue;
        }
        if let Some(v) = &stable {
            let deadline = svc.strategy.progress_deadline().as_std();
            let ours = adopted.get(name).cloned().unwrap_or_default();
            let missing = (*svc.instances).max(1).saturating_sub(ours.len() as u32);
            match app
                .start_and_wait_with(name, v, missing, &ours, deadline, || false)
                .await
            {
                Ok(()) => {
                    app.shift(None, name, &[(v.clone(), 100)].into_iter().collect(), false)
                        .await;
                    restored.push(format!("{name} {v}"));
                }
                Err(e) => {
                    tracing::error!(service = %name, error = %e, "stable version did not come back")
                }
            }
        }
        if let Some(dep) = resume {
            app.svcs().entry(name.clone()).or_default().active = Some(Arc::clone(&dep));
            app.deployments_mut()
                .insert(dep.id.clone(), Arc::clone(&dep));
            dep.enter(
                app,
                Phase::Progressing,
                By::System,
                json!({"resumed_after_restart": true}),
                "resumed after a control-plane restart".into(),
            )
            .await;
            app.spawn(&dep);
        }
    }
    if !killed.is_empty() || !settled.is_empty() || !restored.is_empty() {
        app.record(By::System, "control.recovered",
            json!({"orphans": killed, "deployments": settled, "restored": restored, "emergency_stop": emergency})).await;
    }
}
