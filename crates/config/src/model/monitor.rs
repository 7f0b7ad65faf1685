//! Monitoring (`monitor:`): scheduled probes behind the status report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::units::{Duration, StatusCodes};

/// Scheduled probes. Results feed the status report (OPERATIONAL / DEGRADED / CRITICAL)
/// and the Prometheus metrics; they are not ledger entries.
///
/// ```yaml
/// monitor:
///   schedule: "0 */6 * * *"
///   targets: { api: { http: "http://127.0.0.1:8000/health", timeout: 5s } }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// Cron expression (5 fields, or 6 with seconds) for when to probe. Cannot be combined
    /// with `interval`.
    #[serde(default)]
    pub schedule: Option<Spanned<String>>,
    /// Probe this often instead of on a cron schedule.
    #[serde(default)]
    pub interval: Option<Spanned<Duration>>,
    /// What to probe, by name.
    #[serde(default, deserialize_with = "super::null_default")]
    pub targets: BTreeMap<String, Spanned<MonitorTarget>>,
}

/// One monitored target: exactly one of `http`, `tcp` or `exec`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorTarget {
    /// URL to GET.
    #[serde(default)]
    pub http: Option<String>,
    /// `HOST:PORT` to connect to.
    #[serde(default)]
    pub tcp: Option<String>,
    /// Shell command to run.
    #[serde(default)]
    pub exec: Option<String>,
    /// Fail a probe that takes longer. Default: 5s.
    #[serde(default = "five_seconds")]
    pub timeout: Duration,
    /// Expected HTTP status (default `200..399`) or exit code for `exec` (default `0`).
    #[serde(default)]
    pub expect: Option<StatusCodes>,
}

impl MonitorTarget {
    /// The accepted status codes or exit codes.
    #[must_use]
    pub fn expected(&self) -> StatusCodes {
        match (self.expect, &self.exec) {
            (Some(e), _) => e,
            (None, Some(_)) => StatusCodes { min: 0, max: 0 },
            (None, None) => StatusCodes::default(),
        }
    }
}

fn five_seconds() -> Duration {
    Duration::from_secs(5)
}
