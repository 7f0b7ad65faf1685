//! Alert rules (`alerts:`) over gantry's own signals.

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::model::notify::NotifySeverity;
use crate::units::{Duration, Percent};

/// One named rule: when its condition holds it fires through the notification channels
/// (and is an `alert.firing` entry and a line in the status report) until it resolves.
///
/// ```yaml
/// alerts:
///   - { name: api-down, when: { target: api, down_for: 30s }, severity: error, runbook: https://wiki/api }
///   - { name: web-down, when: { service: web, down_for: 1m } }
///   - { name: web-errors, when: { service: web, error_rate_above: 5%, over: 1m } }
///   - { name: web-slow, when: { service: web, p99_above: 300ms, over: 1m } }
///   - { name: web-rolled-back, when: { rollback: web } }
///   - { name: channels, when: { notifications_failing: true } }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    pub when: Spanned<When>,
    /// Default `warn`.
    #[serde(default = "warn")]
    pub severity: NotifySeverity,
    /// A link to what to do, sent with the notification and shown in the report.
    #[serde(default)]
    pub runbook: Option<String>,
}

fn warn() -> NotifySeverity {
    NotifySeverity::Warn
}

/// The condition, one of the shapes above; `gantry check` says which keys go together.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    /// A `monitor.targets` name: down while its probes fail.
    #[serde(default)]
    pub target: Option<String>,
    /// A service: down while no instance is ready; or its router figures.
    #[serde(default)]
    pub service: Option<String>,
    /// How long the target or service must stay down before the alert fires.
    #[serde(default)]
    pub down_for: Option<Duration>,
    /// The service's share of 5xx answers over `over`.
    #[serde(default)]
    pub error_rate_above: Option<Percent>,
    /// The service's p99 latency over `over`.
    #[serde(default)]
    pub p99_above: Option<Duration>,
    /// The window of `error_rate_above` and `p99_above`.
    #[serde(default)]
    pub over: Option<Duration>,
    /// A service whose latest deployment was rolled back; resolves with its next deployment.
    #[serde(default)]
    pub rollback: Option<String>,
    /// Fires while a notification channel fails to deliver.
    #[serde(default)]
    pub notifications_failing: Option<bool>,
}

/// A rule's condition, checked for shape.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertCondition {
    TargetDown {
        target: String,
        for_: Duration,
    },
    ServiceDown {
        service: String,
        for_: Duration,
    },
    ErrorRate {
        service: String,
        above: Percent,
        over: Duration,
    },
    P99 {
        service: String,
        above: Duration,
        over: Duration,
    },
    Rollback {
        service: String,
    },
    NotificationsFailing,
}

impl When {
    /// The condition, or what is wrong with the shape.
    pub fn condition(&self) -> Result<AlertCondition, String> {
        const SHAPES: &str = "one of { target, down_for }, { service, down_for }, \
             { service, error_rate_above, over }, { service, p99_above, over }, { rollback }, \
             { notifications_failing: true }";
        let subjects = [
            self.target.is_some(),
            self.service.is_some(),
            self.rollback.is_some(),
            self.notifications_failing.is_some(),
        ];
        if subjects.iter().filter(|x| **x).count() != 1 {
            return Err(format!(
                "give exactly one of target, service, rollback, notifications_failing: {SHAPES}"
            ));
        }
        let measures = [
            self.down_for.is_some(),
            self.error_rate_above.is_some(),
            self.p99_above.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        let only = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(format!("{what}: {SHAPES}"))
            }
        };
        if let Some(target) = &self.target {
            only(
                self.down_for.is_some() && measures == 1 && self.over.is_none(),
                "a target alert needs `down_for` (and nothing else)",
            )?;
            return Ok(AlertCondition::TargetDown {
                target: target.clone(),
                for_: self.down_for.unwrap_or_default(),
            });
        }
        if let Some(service) = &self.service {
            only(
                measures == 1,
                "a service alert needs one of `down_for`, `error_rate_above`, `p99_above`",
            )?;
            if let Some(for_) = self.down_for {
                only(
                    self.over.is_none(),
                    "`over` goes with error_rate_above or p99_above",
                )?;
                return Ok(AlertCondition::ServiceDown {
                    service: service.clone(),
                    for_,
                });
            }
            let Some(over) = self.over.filter(|o| !o.is_zero()) else {
                return Err(format!(
                    "`error_rate_above` and `p99_above` need a window `over` longer than 0s: {SHAPES}"
                ));
            };
            if let Some(above) = self.error_rate_above {
                return Ok(AlertCondition::ErrorRate {
                    service: service.clone(),
                    above,
                    over,
                });
            }
            return Ok(AlertCondition::P99 {
                service: service.clone(),
                above: self.p99_above.unwrap_or_default(),
                over,
            });
        }
        only(
            measures == 0 && self.over.is_none(),
            "`rollback` and `notifications_failing` take no other key",
        )?;
        if let Some(service) = &self.rollback {
            return Ok(AlertCondition::Rollback {
                service: service.clone(),
            });
        }
        only(
            self.notifications_failing == Some(true),
            "`notifications_failing` can only be true",
        )?;
        Ok(AlertCondition::NotificationsFailing)
    }
}
