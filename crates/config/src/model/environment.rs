//! Environments (`environments:`) and the order versions are promoted through them
//! (`promotion:`).
//!
//! Each environment is its own deploy target for every service: its own stable address
//! (local driver), its own policy, optionally an approval and a soak time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Listen, Policy};
use crate::Spanned;
use crate::units::Duration;

/// ```yaml
/// environments:
///   dev:
///     local: { listen: { web: 127.0.0.1:18080 } }
///     policy: { default: warning }
///   staging:
///     local: { listen: { web: 127.0.0.1:18081 } }
///     soak: 2h
///   production:
///     policy: { default: danger }
/// promotion: [dev, staging, production]
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Local-driver settings. Default: every service on its own `listen:` address.
    #[serde(default)]
    pub local: LocalSettings,
    /// Policy for deploys to this environment, consulted before the top-level `policy:`
    /// (so dev may relax rules). Default: the top-level policy alone.
    #[serde(default)]
    pub policy: Option<Spanned<Policy>>,
    /// A deploy here waits in `awaiting_approval` until this role approves it (signed,
    /// `gantry approve --as ROLE`), or fails when `timeout` passes first.
    #[serde(default)]
    pub approval: Option<Spanned<Approval>>,
    /// How long a version must have been stable here before the next environment in
    /// `promotion:` accepts it. Default: no wait.
    #[serde(default)]
    pub soak: Option<Spanned<Duration>>,
}

/// What the local driver does differently in one environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    /// The stable address of a service in this environment, by service name. A service
    /// not named listens on its own `listen:` (at most one environment may leave it so).
    #[serde(default, deserialize_with = "super::null_default")]
    pub listen: BTreeMap<String, Spanned<Listen>>,
}

/// `approval: { role: verifier, timeout: 1h }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The role whose signed `gantry approve` lets the deploy proceed.
    pub role: Spanned<String>,
    /// How long a deploy waits for it before it fails (`approval.expired`). Default: 1h.
    #[serde(default = "one_hour")]
    pub timeout: Spanned<Duration>,
}

fn one_hour() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(3600))
}

/// One service in one environment (or the implicit one): what one owner runs.
#[derive(Clone, Debug)]
pub struct DeployTarget<'a> {
    /// `web`, or `web@staging`.
    pub name: String,
    pub service: &'a str,
    pub env: Option<&'a str>,
    pub listen: Listen,
    pub settings: &'a super::Service,
}

/// The name under which the control plane runs `service` in `env`: the service's own
/// name when the project declares no environments, else `service@env`. It is the
/// `service` field of that target's ledger entries and its name in `ps`.
#[must_use]
pub fn target_name(service: &str, env: Option<&str>) -> String {
    match env {
        Some(e) => format!("{service}@{e}"),
        None => service.to_string(),
    }
}

/// The service and environment of a target name (see [`target_name`]).
#[must_use]
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('@') {
        Some((s, e)) => (s, Some(e)),
        None => (target, None),
    }
}

impl super::Config {
    /// The environment named `name`, if declared.
    #[must_use]
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.get(name).map(|e| &e.value)
    }

    /// Where `service` listens in `env` (its own `listen:` without environments, or when
    /// the environment names no address for it). `None` for an unknown service.
    #[must_use]
    pub fn listen_in(&self, service: &str, env: Option<&str>) -> Option<Listen> {
        let own = self.services.get(service)?.listen.value;
        let named = env
            .and_then(|e| self.environment(e))
            .and_then(|e| e.local.listen.get(service))
            .map(|l| l.value);
        Some(named.unwrap_or(own))
    }

    /// Every deploy target, in service then environment order: each service once without
    /// `environments:`, else once per environment (`web@staging`), with its address.
    #[must_use]
    pub fn deploy_targets(&self) -> Vec<DeployTarget<'_>> {
        let envs: Vec<Option<&str>> = if self.environments.is_empty() {
            vec![None]
        } else {
            self.environments.keys().map(|e| Some(e.as_str())).collect()
        };
        self.services
            .iter()
            .flat_map(|(name, svc)| {
                envs.iter().filter_map(move |env| {
                    Some(DeployTarget {
                        name: target_name(name, *env),
                        service: name,
                        env: *env,
                        listen: self.listen_in(name, *env)?,
                        settings: &svc.value,
                    })
                })
            })
            .collect()
    }

    /// The environment before `env` in `promotion:`, if any.
    #[must_use]
    pub fn promoted_from(&self, env: &str) -> Option<&str> {
        let i = self.promotion.iter().position(|e| e.as_str() == env)?;
        i.checked_sub(1).map(|p| self.promotion[p].as_str())
    }
}
