//! Analysis rules (`analysis:`) that judge a new version and trigger rollback.

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::units::{Duration, Number, Percent, Threshold};

/// Rules a new version must keep to, measured by gantry's router in sliding windows.
/// A window with fewer than `min_requests` requests gives no verdict ("inconclusive").
///
/// ```yaml
/// analysis: { error_rate: "< 1%", latency_p99: "< 500ms", window: 2s }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// Share of 5xx responses, e.g. `"< 1%"`. Default: not checked.
    #[serde(default)]
    pub error_rate: Option<Threshold<Percent>>,
    /// 99th percentile latency, e.g. `"< 500ms"`. Default: not checked.
    #[serde(default)]
    pub latency_p99: Option<Threshold<Duration>>,
    /// Readiness/liveness probe failures tolerated per window. Default: not checked.
    #[serde(default)]
    pub probe_failures: Option<u32>,
    /// Requests needed in a window for a verdict. Default: 10.
    #[serde(default = "ten")]
    pub min_requests: u32,
    /// Length of one measurement window. Default: 30s.
    #[serde(default = "thirty_seconds")]
    pub window: Spanned<Duration>,
    /// Failing windows that trigger a rollback. Default: 1; must be at least 1.
    #[serde(default = "one")]
    pub failure_limit: Spanned<u32>,
    /// A custom Prometheus query that must meet a threshold. Default: none. Not supported
    /// yet: `gantry check` rejects it rather than let it judge nothing.
    #[serde(default)]
    pub prometheus: Option<Spanned<Prometheus>>,
    /// What a pause step does when none of its windows passed (too little traffic to
    /// judge): `pause` (default) waits for a passing window or `gantry promote`, `fail`
    /// rolls back, `pass` advances as if it had passed.
    #[serde(default)]
    pub inconclusive: Inconclusive,
}

/// `analysis.inconclusive`: no promotion without evidence unless asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inconclusive {
    /// Hold the step until a window passes or the operator promotes (as Argo Rollouts).
    #[default]
    Pause,
    /// Roll back: no evidence is treated as a failure.
    Fail,
    /// Advance: no evidence is treated as a pass.
    Pass,
}

/// A Prometheus-backed analysis rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prometheus {
    /// Prometheus base URL. Default: `http://127.0.0.1:9090`.
    #[serde(default = "default_prometheus_url")]
    pub url: String,
    /// PromQL instant query returning one number; `{service}` and `{version}` are replaced.
    pub query: String,
    /// Condition the query result must meet, e.g. `"< 0.01"`.
    pub threshold: Threshold<Number>,
}

fn ten() -> u32 {
    10
}
fn one() -> Spanned<u32> {
    Spanned::new(1)
}
fn thirty_seconds() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(30))
}
fn default_prometheus_url() -> String {
    "http://127.0.0.1:9090".to_string()
}
