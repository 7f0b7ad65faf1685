//! Analysis verdicts: does a new version keep to the service's rules in one window?
//!
//! Too little traffic gives no verdict ("inconclusive"), never a guess. A version is only
//! blamed for what the stable version does not do too in the same window, so an outage
//! everyone shares does not roll back a good release.

use gantry_config::{Analysis, Duration, Percent};
use serde::{Deserialize, Serialize};

/// What was measured for one version over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub requests: u64,
    pub errors_5xx: u64,
    /// 5xx share, 0..=1.
    pub error_rate: f64,
    pub p99_ms: f64,
    pub probe_failures: u64,
    pub window_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Inconclusive { reason: String },
    Fail { reasons: Vec<String> },
}

impl Verdict {
    pub fn is_fail(&self) -> bool {
        matches!(self, Verdict::Fail { .. })
    }
}

/// Judges `candidate` against `rules`, and against `baseline` (the stable version in the
/// same window) when the baseline had enough traffic itself.
pub fn judge(rules: &Analysis, candidate: &Figures, baseline: Option<&Figures>) -> Verdict {
    let mut reasons = Vec::new();
    if let Some(max) = rules.probe_failures
        && candidate.probe_failures > u64::from(max)
    {
        reasons.push(format!(
            "{} probe failures > {max} allowed",
            candidate.probe_failures
        ));
    }
    let min = u64::from(rules.min_requests);
    if candidate.requests < min {
        if reasons.is_empty() {
            return Verdict::Inconclusive {
                reason: format!(
                    "{} requests in the window, fewer than min_requests {min}",
                    candidate.requests
                ),
            };
        }
        return Verdict::Fail { reasons };
    }
    let baseline = baseline.filter(|b| b.requests >= min.max(1));
    let mut shared = Vec::new();
    if let Some(t) = &rules.error_rate {
        let measured =
            Percent::new((candidate.error_rate * 100.0).clamp(0.0, 100.0)).unwrap_or_default();
        if !t.is_met_by(measured) {
            let text = format!(
                "error rate {:.2}% ({} of {} requests) breaks \"{t}\"",
                candidate.error_rate * 100.0,
                candidate.errors_5xx,
                candidate.requests
            );
            match baseline {
                Some(b) if b.error_rate >= candidate.error_rate => shared.push(text),
                _ => reasons.push(text),
            }
        }
    }
    if let Some(t) = &rules.latency_p99 {
        let measured = Duration::from_millis(candidate.p99_ms.ceil().max(0.0) as u64);
        if !t.is_met_by(measured) {
            let text = format!("p99 latency {:.0}ms breaks \"{t}\"", candidate.p99_ms);
            match baseline {
                Some(b) if b.p99_ms >= candidate.p99_ms => shared.push(text),
                _ => reasons.push(text),
            }
        }
    }
    if !reasons.is_empty() {
        Verdict::Fail { reasons }
    } else if !shared.is_empty() {
        Verdict::Inconclusive {
            reason: format!(
                "the stable version does as badly in the same window: {}",
                shared.join("; ")
            ),
        }
    } else {
        Verdict::Pass
    }
}

/// Counts failing windows; the deploy rolls back when `failure_limit` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub failures: u32,
    pub limit: u32,
}

impl Tally {
    pub fn new(limit: u32) -> Self {
        Tally {
            failures: 0,
            limit: limit.max(1),
        }
    }

    /// Records a verdict; true when the limit is reached.
    pub fn record(&mut self, verdict: &Verdict) -> bool {
        if verdict.is_fail() {
            self.failures += 1;
        }
        self.failures >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Analysis {
        serde_json::from_value(serde_json::from_str::<serde_json::Value>(yaml).unwrap()).unwrap()
    }

    fn figures(requests: u64, errors: u64, p99_ms: f64) -> Figures {
        Figures {
            requests,
            errors_5xx: errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            p99_ms,
            probe_failures: 0,
            window_ms: 2000,
        }
    }

    #[test]
    fn too_little_traffic_is_inconclusive() {
        let r = rules(r#"{"error_rate": "< 1%", "min_requests": 20}"#);
        let v = judge(&r, &figures(5, 5, 1.0), None);
        assert!(
            matches!(v, Verdict::Inconclusive { ref reason } if reason.contains("fewer than min_requests 20"))
        );
    }

    #[test]
    fn error_rate_and_latency_fail_with_figures() {
        let r = rules(r#"{"error_rate": "< 1%", "latency_p99": "< 500ms", "min_requests": 10}"#);
        assert_eq!(judge(&r, &figures(100, 0, 20.0), None), Verdict::Pass);
        let Verdict::Fail { reasons } = judge(&r, &figures(100, 30, 900.0), None) else {
            panic!("should fail")
        };
        assert!(reasons[0].contains("30.00% (30 of 100"), "{reasons:?}");
        assert!(reasons[1].contains("p99 latency 900ms"), "{reasons:?}");
    }

    #[test]
    fn shared_failures_are_not_blamed_on_the_canary() {
        let r = rules(r#"{"error_rate": "< 1%", "min_requests": 10}"#);
        let v = judge(&r, &figures(100, 10, 5.0), Some(&figures(300, 40, 5.0)));
        assert!(matches!(v, Verdict::Inconclusive { .. }), "{v:?}");
        let v = judge(&r, &figures(100, 10, 5.0), Some(&figures(300, 0, 5.0)));
        assert!(v.is_fail());
    }

    #[test]
    fn probe_failures_fail_without_traffic() {
        let r = rules(r#"{"probe_failures": 2}"#);
        let mut f = figures(0, 0, 0.0);
        f.probe_failures = 3;
        assert!(judge(&r, &f, None).is_fail());
    }

    #[test]
    fn tally_reaches_the_failure_limit() {
        let mut t = Tally::new(2);
        let fail = Verdict::Fail { reasons: vec![] };
        assert!(!t.record(&fail));
        assert!(!t.record(&Verdict::Pass));
        assert!(t.record(&fail));
    }
}
