//! The probe list: every `monitor.targets` entry, resolved against the environment, and
//! every managed service through its readiness check on its stable (router) address.

use std::collections::BTreeMap;
use std::time::Duration;

use gantry_config::{Config, ProbeCheck, StatusCodes, TargetCheck};

use crate::MonitorError;
use crate::probe::Check;

/// One thing a check round probes.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The `monitor.targets` key, or the service name.
    pub name: String,
    /// Set for a managed service's own check.
    pub service: Option<String>,
    pub check: Check,
    pub timeout: Duration,
}

impl Target {
    /// The key of its samples: the target name, or `service:NAME` (a target and a service
    /// may share a name).
    #[must_use]
    pub fn key(&self) -> String {
        match &self.service {
            Some(s) => format!("service:{s}"),
            None => self.name.clone(),
        }
    }
}

/// The targets of `config`, with `${VAR}` substituted from `env`: the configured ones by
/// name, then one per service.
pub fn targets(
    config: &Config,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Target>, MonitorError> {
    let mut out = Vec::new();
    if let Some(monitor) = &config.monitor {
        for (name, target) in &monitor.targets {
            let err = |e: gantry_config::ResolveError| MonitorError::Target {
                target: name.clone(),
                field: e.field,
                message: e.message,
            };
            let check = match target.check(env).map_err(err)? {
                TargetCheck::Http(url) => Check::Http {
                    url,
                    expect: target.expected(),
                    contains: target.contains.clone(),
                },
                TargetCheck::Tcp(addr) => Check::Tcp { addr },
                TargetCheck::Exec(command) => Check::Exec {
                    command,
                    expect: target.expected(),
                },
            };
            out.push(Target {
                name: name.clone(),
                service: None,
                check,
                timeout: target.timeout(env).map_err(err)?.as_std(),
            });
        }
    }
    // One per deploy target: each environment's address is its own service to watch.
    for t in config.deploy_targets() {
        let (name, svc) = (&t.name, t.settings);
        let addr = t.listen.0;
        let readiness = svc.health.readiness.as_ref();
        // Through the router, as users reach the service: an http readiness path is asked
        // there; otherwise `/` must not get the router's own "no ready instance" answers
        // (502, 503, 504).
        let check = match readiness.and_then(|r| r.check()) {
            Some(ProbeCheck::Http(path)) => Check::Http {
                url: format!("http://{addr}{path}"),
                expect: readiness.map_or_else(StatusCodes::default, |r| r.status),
                contains: None,
            },
            _ => Check::Http {
                url: format!("http://{addr}/"),
                expect: StatusCodes { min: 100, max: 501 },
                contains: None,
            },
        };
        let timeout = readiness.map_or(Duration::from_secs(1), |r| r.timeout.as_std());
        out.push(Target {
            name: name.clone(),
            service: Some(name.clone()),
            check,
            timeout,
        });
    }
    Ok(out)
}
