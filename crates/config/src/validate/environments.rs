//! Checks of `environments:` and `promotion:`: names, the services and roles they name,
//! addresses that collide, settings that would have no effect, and deploy steps that name
//! an environment nobody declared.

use std::collections::BTreeSet;

use super::{Problems, did_you_mean, list};
use crate::{Config, Listen, Pos, StepAction};

pub(super) fn check_environments(config: &Config, p: &mut Problems<'_>) {
    let names = || config.environments.keys().map(String::as_str);
    for (name, env) in &config.environments {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            p.add(
                env.pos,
                "gantry::config::environment_name",
                "bad name",
                format!("environment name '{name}' may hold only letters, digits, '-' and '_'"),
            );
        }
        for (service, addr) in &env.local.listen {
            if !config.services.contains_key(service) {
                p.add(
                    addr.pos,
                    "gantry::config::environment_service",
                    "unknown service",
                    format!(
                        "environment '{name}' sets an address for unknown service '{service}'{}; services: {}",
                        did_you_mean(service, config.services.keys().map(String::as_str)),
                        list(config.services.keys().map(String::as_str))
                    ),
                );
            }
        }
        if let Some(policy) = &env.policy {
            for (service, settings) in &policy.services {
                if !config.services.contains_key(service) {
                    p.add(
                        settings.pos,
                        "gantry::config::policy_service",
                        "unknown service",
                        format!(
                            "policy of environment '{name}' names unknown service '{service}'{}; services: {}",
                            did_you_mean(service, config.services.keys().map(String::as_str)),
                            list(config.services.keys().map(String::as_str))
                        ),
                    );
                }
                if let Some(runbook) = &settings.runbook {
                    p.add(
                        runbook.pos,
                        "gantry::config::environment_runbook",
                        "not supported here",
                        format!(
                            "a runbook is the service's, not an environment's; set it in the top-level `policy.services.{service}.runbook`"
                        ),
                    );
                }
            }
        }
        if let Some(approval) = &env.approval {
            // The approval is an entry signed by the role's key: a role without an agent
            // has no key, so the deploy could only ever expire.
            let role = approval.role.as_str();
            if !config.agents.contains_key(role) {
                p.add(
                    approval.role.pos,
                    "gantry::config::approval_role",
                    "no such agent role",
                    format!(
                        "environment '{name}' waits for approval by role '{role}', which `agents:` does not declare{}; roles: {}",
                        did_you_mean(role, config.agents.keys().map(String::as_str)),
                        list(config.agents.keys().map(String::as_str))
                    ),
                );
            }
            if approval.timeout.is_zero() {
                p.add(
                    approval.timeout.pos,
                    "gantry::config::approval_timeout",
                    "zero",
                    format!("environment '{name}': approval `timeout` must be longer than 0s"),
                );
            }
        }
        if let Some(soak) = &env.soak {
            let followed = config
                .promotion
                .iter()
                .position(|e| e.as_str() == name)
                .is_some_and(|i| i + 1 < config.promotion.len());
            if !followed {
                p.add(
                    soak.pos,
                    "gantry::config::soak_unused",
                    "no effect",
                    format!(
                        "`soak` of environment '{name}' has no effect: no environment follows it in `promotion:`"
                    ),
                );
            }
        }
    }
    check_promotion(config, p);
    check_unused_listen(config, p);
    check_service_names(config, p);
    check_deploy_steps(config, p, &names().collect());
}

fn check_promotion(config: &Config, p: &mut Problems<'_>) {
    let mut seen = BTreeSet::new();
    for env in &config.promotion {
        if !config.environments.contains_key(env.as_str()) {
            p.add(
                env.pos,
                "gantry::config::promotion_environment",
                "unknown environment",
                format!(
                    "promotion names unknown environment '{}'{}; environments: {}",
                    env.value,
                    did_you_mean(env, config.environments.keys().map(String::as_str)),
                    list(config.environments.keys().map(String::as_str))
                ),
            );
        } else if !seen.insert(env.as_str()) {
            p.add(
                env.pos,
                "gantry::config::promotion_environment",
                "named twice",
                format!("promotion names environment '{}' twice", env.value),
            );
        }
    }
}

/// A service's own `listen:` is its address in every environment that names none; when
/// each names its own, the service's would do nothing.
fn check_unused_listen(config: &Config, p: &mut Problems<'_>) {
    if config.environments.is_empty() {
        return;
    }
    for (name, service) in &config.services {
        if config
            .environments
            .values()
            .all(|e| e.local.listen.contains_key(name))
        {
            p.add(
                service.listen.pos,
                "gantry::config::listen_unused",
                "used by no environment",
                format!(
                    "`listen` of service '{name}' is used by no environment: each sets its own in `local.listen`; leave one environment (e.g. production) on this address"
                ),
            );
        }
    }
}

/// Target names are `service@env`, so a service name may not hold `@`.
fn check_service_names(config: &Config, p: &mut Problems<'_>) {
    if config.environments.is_empty() {
        return;
    }
    for (name, service) in &config.services {
        if name.contains('@') {
            p.add(
                service.pos,
                "gantry::config::service_name",
                "holds '@'",
                format!("service name '{name}' may not hold '@' in a project with environments"),
            );
        }
    }
}

/// With environments declared, a deploy step's `env:` must name one. Without them it is
/// the one implicit environment, as it always was.
fn check_deploy_steps(config: &Config, p: &mut Problems<'_>, names: &BTreeSet<&str>) {
    if names.is_empty() {
        return;
    }
    for pipeline in config.pipelines.values() {
        for stage in &pipeline.stages {
            for step in &stage.steps {
                let Some(StepAction::Deploy { environment, .. }) = step.action() else {
                    continue;
                };
                let at = step.env.pos;
                match environment {
                    Some(e) if names.contains(e) => {}
                    Some(e) => p.add(
                        at,
                        "gantry::config::deploy_environment",
                        "unknown environment",
                        format!(
                            "deploy step in stage '{}' targets unknown environment '{e}'{}; environments: {}",
                            stage.name,
                            did_you_mean(e, names.iter().copied()),
                            list(names.iter().copied())
                        ),
                    ),
                    None if names.len() > 1 => p.add(
                        step.deploy.as_ref().map_or(at, |d| d.pos),
                        "gantry::config::deploy_environment",
                        "no environment",
                        format!(
                            "deploy step in stage '{}' names no environment; add `env:` with one of {}",
                            stage.name,
                            list(names.iter().copied())
                        ),
                    ),
                    None => {}
                }
            }
        }
    }
}

/// Every environment's own addresses, for the duplicate-address check of `services:`.
pub(super) fn addresses(config: &Config, out: &mut Vec<(Pos, Listen, String)>) {
    for (name, env) in &config.environments {
        for (service, addr) in &env.local.listen {
            out.push((
                addr.pos,
                addr.value,
                format!("service '{service}' in environment '{name}'"),
            ));
        }
    }
}
