//! Deploy targets: what one owner runs. Without `environments:` a target is a service;
//! with them, one service in one environment (`web@staging`), each with its own stable
//! address, instances, traffic and stable version. The target name is the `service` of
//! the target's ledger entries, its driver name and its name in `ps`.

use gantry_config::{Config, Listen, split_target, target_name};

use crate::ServerError;

/// One service in one environment (or the implicit one).
pub(crate) struct Target {
    pub name: String,
    pub listen: Listen,
}

/// Every target of `config`, in name order.
pub(crate) fn targets(config: &Config) -> Vec<Target> {
    let envs: Vec<Option<&str>> = if config.environments.is_empty() {
        vec![None]
    } else {
        config
            .environments
            .keys()
            .map(|e| Some(e.as_str()))
            .collect()
    };
    let mut all: Vec<Target> = config
        .services
        .keys()
        .flat_map(|s| {
            envs.iter().filter_map(move |e| {
                Some(Target {
                    name: target_name(s, *e),
                    listen: config.listen_in(s, *e)?,
                })
            })
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

fn names<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    keys.cloned().collect::<Vec<_>>().join(", ")
}

/// The target `service` (a service, or already `service@env`) names in `env`: refused
/// when an environment is named that gantry.yaml does not declare, or none is named
/// where several are.
pub(crate) fn resolve(
    config: &Config,
    service: &str,
    env: Option<&str>,
) -> Result<String, ServerError> {
    let (base, named) = split_target(service);
    let env = match (named, env) {
        (Some(a), Some(b)) if a != b => {
            return Err(ServerError::BadRequest(format!(
                "'{service}' names environment '{a}' but the request names '{b}'"
            )));
        }
        (a, b) => a.or(b),
    };
    if let Err(unknown) = config.service(base) {
        return Err(ServerError::NotFound(unknown.to_string()));
    }
    if config.environments.is_empty() {
        return match env {
            None => Ok(base.to_string()),
            Some(e) => Err(ServerError::BadRequest(format!(
                "no environment '{e}': gantry.yaml declares no `environments:`, so service '{base}' has one target; deploy without --env"
            ))),
        };
    }
    let env = match env {
        Some(e) => e,
        None if config.environments.len() == 1 => {
            config.environments.keys().next().map_or("", String::as_str)
        }
        None => {
            return Err(ServerError::BadRequest(format!(
                "service '{base}' runs in several environments; name one with --env (body field `env`): {}",
                names(config.environments.keys())
            )));
        }
    };
    if !config.environments.contains_key(env) {
        return Err(ServerError::NotFound(format!(
            "no environment '{env}' in gantry.yaml; environments: {}",
            names(config.environments.keys())
        )));
    }
    Ok(target_name(base, Some(env)))
}
