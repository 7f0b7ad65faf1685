//! Checks of `policy:`: rule names are checked by the model itself (an unknown one is an
//! unknown variant at its key); here, that per-service settings name real services.

use super::{Problems, did_you_mean, list};
use crate::Config;

pub(super) fn check_policy(config: &Config, p: &mut Problems<'_>) {
    for (name, settings) in &config.policy.services {
        if !config.services.contains_key(name) {
            p.add(
                settings.pos,
                "gantry::config::policy_service",
                "unknown service",
                format!(
                    "policy for unknown service '{name}'{}; services: {}",
                    did_you_mean(name, config.services.keys().map(String::as_str)),
                    list(config.services.keys().map(String::as_str))
                ),
            );
        }
        if let Some(runbook) = &settings.runbook
            && runbook.trim().is_empty()
        {
            p.add(
                runbook.pos,
                "gantry::config::policy_runbook",
                "empty",
                format!("runbook of service '{name}' is empty; give a path or an https:// link"),
            );
        }
    }
}
