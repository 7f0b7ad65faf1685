//! Start-up from the ledger: orphans of a previous control plane are killed (recognised by
//! process group and `GANTRY_INSTANCE`), each service is served again by its stable version,
//! and a deployment the restart interrupted is rolled back (default) or resumed
//! (`on_restart: resume`).

use std::collections::BTreeMap;

use gantry_deploy::{PriorInstance, Reclaimed};
use gantry_state::State;
use serde_json::json;
use tokio::sync::oneshot;

use crate::app::App;
use crate::command::{Command, Control, Interrupted, RestorePlan};
use crate::core::{By, Core};
use crate::owner::Seed;

/// What reclaiming left running: adopted instance ids by service.
pub(crate) type AdoptedIds = std::collections::BTreeMap<String, Vec<String>>;

/// Hands every instance the previous control plane left to the driver: an instance of the
/// service's stable version is adopted if the driver verifies it is that very process
/// (so traffic comes back without a cold start); everything else is killed (recognised by
/// the driver's own means, never a stranger's process). Returns the recorded outcomes.
pub(crate) async fn reclaim_orphans(
    app: &Core,
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

/// Each service's stable version, history and deployment counter from the ledger, for
/// its owner before any call is taken: ids then continue the ledger's and never repeat.
pub(crate) fn seeds(core: &Core, state: &State) -> BTreeMap<String, Seed> {
    crate::targets::targets(&core.config())
        .into_iter()
        .filter_map(|t| Some((core.service_config(&t.name).ok()?, t.name)))
        .map(|(svc, name)| {
            let seed = seed(core, &name, &svc, state);
            (name, seed)
        })
        .collect()
}

/// One service's seed (also for a service a reload adds).
pub(crate) fn seed(core: &Core, name: &str, svc: &gantry_config::Service, state: &State) -> Seed {
    let view = state.services.services.get(name);
    Seed {
        stable: view
            .and_then(|v| v.stable.clone())
            .filter(|v| svc.releases.contains_key(v) || core.has_release(name, v)),
        stable_since: view
            .and_then(|v| v.stable_since.as_deref())
            .and_then(crate::gate::parse_ts),
        history: view.map(|v| v.history.clone()).unwrap_or_default(),
        deployments: view.map_or(0, |v| v.deployments),
        emergency: state.services.emergency_stop,
    }
}

/// Has every owner restore its service and settle its interrupted deployment (all at
/// once), then records what was done.
pub(crate) async fn restore(
    app: &App,
    state: &State,
    killed: Vec<serde_json::Value>,
    mut adopted: AdoptedIds,
) {
    let emergency = state.services.emergency_stop;
    let mut answers = Vec::new();
    for (name, owner) in &app.owners() {
        let interrupted = state
            .services
            .services
            .get(name)
            .and_then(|v| v.deployment.clone())
            .filter(|d| d.in_progress())
            .map(|d| Interrupted {
                approval: d.approval.clone().filter(|_| d.awaiting_approval()),
                id: d.id,
                from: d.from,
                to: d.to,
                strategy: d.strategy,
            });
        let plan = RestorePlan {
            interrupted,
            adopted: adopted.remove(name).unwrap_or_default(),
            emergency,
        };
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Control(Control::Restore {
            plan: Box::new(plan),
            reply,
        });
        if owner.tx.send(cmd).await.is_ok() {
            answers.push(rx);
        }
    }
    let mut settled = Vec::new();
    let mut restored = Vec::new();
    for rx in answers {
        if let Ok(r) = rx.await {
            settled.extend(r.settled);
            restored.extend(r.restored);
        }
    }
    if !killed.is_empty() || !settled.is_empty() || !restored.is_empty() {
        app.core.record(By::System, "control.recovered",
            json!({"orphans": killed, "deployments": settled, "restored": restored, "emergency_stop": emergency})).await;
    }
}
