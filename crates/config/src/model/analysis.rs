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
    /// A PromQL query whose one number must meet a threshold, asked every window as well
    /// as the router's figures. Default: none.
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

/// A Prometheus-backed analysis rule: every window, an instant query (`/api/v1/query`)
/// judges the new version. No data or NaN is inconclusive, never a pass.
///
/// ```yaml
/// prometheus:
///   url: http://127.0.0.1:9090
///   query: 'sum(rate(gantry_router_requests_total{service="{{service}}",version="{{version}}",code="5xx"}[30s]))'
///   threshold: "< 0.05"
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prometheus {
    /// Prometheus base URL (`http://`; the query goes to `<url>/api/v1/query`). Default:
    /// `http://127.0.0.1:9090`.
    #[serde(default = "default_prometheus_url")]
    pub url: Spanned<String>,
    /// PromQL instant query returning one number (one series or a scalar);
    /// `{{service}}` and `{{version}}` are replaced by the service and the judged version.
    pub query: Spanned<String>,
    /// Condition the number must meet, written like the other rules: `"< 0.05"`, `">= 99"`.
    pub threshold: Threshold<Number>,
}

/// Placeholders in `template` other than `{{service}}` and `{{version}}`, as written; a
/// config naming one is refused, since it would be sent to Prometheus unreplaced.
#[must_use]
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push(rest[start..].to_string());
            break;
        };
        let name = after[..end].trim();
        if name != "service" && name != "version" {
            out.push(format!("{{{{{}}}}}", &after[..end]));
        }
        rest = &after[end + 2..];
    }
    out
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
fn default_prometheus_url() -> Spanned<String> {
    Spanned::new("http://127.0.0.1:9090".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn unknown_placeholders_are_named_as_written() {
        assert_eq!(
            super::unknown_placeholders("{{service}} {{ target }} {{version}} {{"),
            vec!["{{ target }}".to_string(), "{{".to_string()]
        );
        assert!(super::unknown_placeholders("sum(rate(x[1m]))").is_empty());
    }
}
