//! Instances a previous control plane left running: adopted when they verifiably are the
//! instance the ledger remembers (pid, start time, process group, marker variables and
//! port all match), killed otherwise. A process that is not gantry's is never touched.

use std::time::Duration;

use gantry_deploy::{InstanceSpec, PriorInstance, Reclaimed};

use crate::LocalDriver;
use crate::probe::tcp;
use crate::process::{
    INSTANCE_VAR, Orphan, env_var, kill_orphan, pgid_of, process_alive, start_time,
};
use crate::supervise::Adopted;

/// Checks that `prior` still runs as the very process that was started for it.
async fn verify(prior: &PriorInstance) -> Result<Adopted, String> {
    let (Some(pid), Some(pgid), Some(addr), Some(started)) =
        (prior.pid, prior.pgid, prior.addr, prior.start_time)
    else {
        return Err("the ledger lacks its pid, process group, port or start time".into());
    };
    if !process_alive(pid) {
        return Err(format!("pid {pid} is not running"));
    }
    if start_time(pid) != Some(started) {
        return Err(format!(
            "pid {pid} is a different process (start time differs)"
        ));
    }
    if pgid_of(pid) != Some(pgid) {
        return Err(format!("pid {pid} left process group {pgid}"));
    }
    let marks = [
        (INSTANCE_VAR, prior.instance.as_str()),
        ("GANTRY_SERVICE", prior.service.as_str()),
        ("GANTRY_VERSION", prior.version.as_str()),
    ];
    for (name, want) in marks {
        if env_var(pid, name).as_deref() != Some(want) {
            return Err(format!("pid {pid} has no {name}={want}"));
        }
    }
    if !tcp(addr, Duration::from_millis(500)).await {
        return Err(format!("nothing accepts connections on {addr}"));
    }
    Ok(Adopted { pid, pgid, addr })
}

pub(crate) async fn reclaim(
    driver: &LocalDriver,
    prior: PriorInstance,
    adopt: Option<InstanceSpec>,
) -> Reclaimed {
    let Some(pgid) = prior.pgid.filter(|p| *p > 1) else {
        return Reclaimed::Gone;
    };
    let reason = match adopt {
        None => "not the stable version".to_string(),
        Some(mut spec) => match verify(&prior).await {
            Ok(adopted) => {
                spec.instance = prior.instance.clone();
                match driver.launch(spec, Some(adopted)) {
                    Ok(_) => return Reclaimed::Adopted,
                    Err(e) => e.to_string(),
                }
            }
            Err(why) => why,
        },
    };
    match kill_orphan(pgid, &prior.instance).await {
        Orphan::Killed => Reclaimed::Killed { reason },
        Orphan::Gone => Reclaimed::Gone,
        Orphan::NotOurs => Reclaimed::NotOurs,
    }
}
