//! The scaler of one service with `scaling:`: every `period` it measures the CPU of the
//! stable version's ready instances through the driver, asks the pure [`Autoscaler`] for a
//! count, and when that differs asks the service's owner to change it (the owner records
//! `scale.changed` and starts or drains instances).
//!
//! It holds while a deployment is in progress, while the service restores after a restart,
//! and while no version is stable: a deployment starts the count `instances:` says, and the
//! scaler starts afresh from whatever runs when it is over. Its stabilisation window is
//! emptied then too, so a count wanted before the deployment does not hold up scaling down.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use gantry_config::Scaling;
use gantry_deploy::InstancePhase;
use gantry_deploy::autoscale::Autoscaler;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::command::{Command, ScaleRequest};
use crate::core::Core;
use crate::owner::Handle;

/// Starts a scaler for each service with `scaling:` (and a CPU limit, which `gantry check`
/// requires of it); they run until the returned token (a child of `parent`) is cancelled.
pub(crate) fn spawn_all(app: &crate::App) {
    for name in app.core.config().services.keys() {
        spawn_for(app, name);
    }
}

/// Starts the scaler of `name` if it has `scaling:` (also for a service a reload adds);
/// it stops with [`crate::App::stop_scalers`].
pub(crate) fn spawn_for(app: &crate::App, name: &str) {
    let Ok(svc) = app.core.service_config(name) else {
        return;
    };
    let (Some(scaling), Some(owner)) = (&svc.scaling, app.owners().remove(name)) else {
        return;
    };
    let Some(cpu) = svc.resources.as_ref().and_then(|r| r.cpu.as_ref()) else {
        return;
    };
    tokio::spawn(run(
        Arc::clone(&app.core),
        owner,
        name.to_string(),
        scaling.value.clone(),
        cpu.millis(),
        app.stop_scalers.clone(),
    ));
}

/// Runs until `stop`.
async fn run(
    core: Arc<Core>,
    owner: Handle,
    service: String,
    scaling: Scaling,
    cpu_millis: u64,
    stop: CancellationToken,
) {
    let target = scaling.target_cpu.fraction();
    let window = u64::try_from(scaling.stabilization.as_std().as_millis()).unwrap_or(u64::MAX);
    let fresh = || Autoscaler::new(*scaling.min, *scaling.max, target, window);
    let mut scaler = fresh();
    let born = Instant::now();
    // Instance → (when, CPU seconds) at the last tick.
    let mut last: BTreeMap<String, (Instant, f64)> = BTreeMap::new();
    let mut ticker = tokio::time::interval(scaling.period.as_std());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => return,
        }
        let view = owner.view.borrow().clone();
        let Some(version) = view
            .stable
            .clone()
            .filter(|_| view.active.is_none() && !view.restoring && !view.traffic.emergency_stop)
        else {
            scaler = fresh();
            last.clear();
            continue;
        };
        let instances: Vec<_> = core
            .driver
            .instances(&service)
            .into_iter()
            .filter(|i| i.version == version && i.phase != InstancePhase::Stopping)
            .collect();
        let current = u32::try_from(instances.len()).unwrap_or(u32::MAX);
        let now = Instant::now();
        let mut used = 0.0;
        let mut measured = 0u32;
        let mut seen = BTreeMap::new();
        for i in instances.iter().filter(|i| i.ready) {
            let Some(secs) = core.driver.cpu_seconds(&service, &i.instance) else {
                continue;
            };
            if let Some((then, before)) = last.get(&i.instance) {
                let elapsed = now.duration_since(*then).as_secs_f64();
                if elapsed > 0.0 {
                    used += ((secs - before) / elapsed).max(0.0);
                    measured += 1;
                }
            }
            seen.insert(i.instance.clone(), (now, secs));
        }
        last = seen;
        // Nothing measured over a whole period yet (just started, or every instance is
        // new): no sample, no decision — except to bring the count into min..=max.
        let utilisation = if measured == 0 {
            target
        } else {
            used / f64::from(measured) / (cpu_millis as f64 / 1000.0)
        };
        if current == 0 {
            continue;
        }
        let now_ms = u64::try_from(born.elapsed().as_millis()).unwrap_or(u64::MAX);
        let rec = scaler.recommend(now_ms, current, utilisation);
        if rec.to == current {
            continue;
        }
        let (reply, answer) = oneshot::channel();
        let req = ScaleRequest {
            version,
            from: current,
            to: rec.to,
            cpu_percent: (utilisation * 1000.0).round() / 10.0,
            measured,
            target_percent: scaling.target_cpu.value(),
            reply,
        };
        if owner.tx.send(Command::Scale(req)).await.is_err() {
            return;
        }
        // One change at a time: the next tick measures what this one made.
        match answer.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => tracing::info!(service, reason = %why, "scaling held"),
            Err(_) => tracing::info!(service, "scaling step cancelled"),
        }
        last.clear();
    }
}
