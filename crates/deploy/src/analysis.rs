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
    /// Failed requests, HTTP 5xx and gRPC errors together.
    pub errors_5xx: u64,
    /// Of `errors_5xx`, gRPC calls that ended with one of the service's error codes.
    #[serde(default)]
    pub grpc_errors: u64,
    /// Failed share (`errors_5xx / requests`), 0..=1.
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
                "error rate {:.2}% ({} of {} requests{}) breaks \"{t}\"",
                candidate.error_rate * 100.0,
                candidate.errors_5xx,
                candidate.requests,
                failure_kinds(candidate)
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

/// Which kinds of failure make up the error count, when gRPC calls are among them (an
/// operator reading "error rate 100%" of a gRPC service sees no 5xx in its logs).
fn failure_kinds(f: &Figures) -> String {
    let grpc = f.grpc_errors.min(f.errors_5xx);
    match (f.errors_5xx - grpc, grpc) {
        (_, 0) => String::new(),
        (0, g) => format!(": {g} gRPC errors"),
        (h, g) => format!(": {h} HTTP 5xx, {g} gRPC errors"),
    }
}

/// Counts windows by verdict; the deploy rolls back when `failure_limit` failing windows
/// are reached, and a pause step advances on its own only on evidence (a passing window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    pub failures: u32,
    pub limit: u32,
    /// Windows judged over the whole deployment, and how many of them passed.
    pub windows: u32,
    pub passes: u32,
    /// Passing windows in the current pause step (reset by [`Tally::new_step`]).
    pub step_passes: u32,
    pub step_windows: u32,
}

impl Tally {
    pub fn new(limit: u32) -> Self {
        Tally {
            limit: limit.max(1),
            ..Tally::default()
        }
    }

    /// Records a verdict; true when the limit is reached.
    pub fn record(&mut self, verdict: &Verdict) -> bool {
        self.windows += 1;
        self.step_windows += 1;
        match verdict {
            Verdict::Fail { .. } => self.failures += 1,
            Verdict::Pass => {
                self.passes += 1;
                self.step_passes += 1;
            }
            Verdict::Inconclusive { .. } => {}
        }
        self.failures >= self.limit
    }

    /// A new pause step begins: its evidence is counted afresh.
    pub fn new_step(&mut self) {
        self.step_passes = 0;
        self.step_windows = 0;
    }

    /// `"N of M analysis windows passed"`, for summaries.
    pub fn summary(&self) -> String {
        format!(
            "{} of {} analysis window{} passed",
            self.passes,
            self.windows,
            if self.windows == 1 { "" } else { "s" }
        )
    }
}

/// Why a step has no evidence yet, from its last window: `"waiting for traffic: 3 of 20
/// requests in the last window"`, or the last window's own reason when traffic was not
/// what was missing.
pub fn no_evidence(rules: &Analysis, last: Option<(&Figures, &Verdict)>) -> String {
    match last {
        None => "waiting for traffic: no analysis window has ended yet".into(),
        Some((f, _)) if f.requests < u64::from(rules.min_requests) => format!(
            "waiting for traffic: {} of {} requests in the last window",
            f.requests, rules.min_requests
        ),
        Some((_, Verdict::Inconclusive { reason })) => format!("no passing window: {reason}"),
        Some((_, Verdict::Fail { reasons })) => {
            format!(
                "no passing window: the last failed ({})",
                reasons.join("; ")
            )
        }
        Some((_, Verdict::Pass)) => "the last window passed".into(),
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
            grpc_errors: 0,
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
    fn grpc_errors_are_named_in_the_reason() {
        let r = rules(r#"{"error_rate": "< 5%", "min_requests": 10}"#);
        let only_grpc = Figures {
            grpc_errors: 40,
            ..figures(40, 40, 1.0)
        };
        let Verdict::Fail { reasons } = judge(&r, &only_grpc, None) else {
            panic!("should fail")
        };
        assert_eq!(
            reasons,
            ["error rate 100.00% (40 of 40 requests: 40 gRPC errors) breaks \"< 5%\""]
        );
        let mixed = Figures {
            grpc_errors: 8,
            ..figures(100, 20, 1.0)
        };
        let Verdict::Fail { reasons } = judge(&r, &mixed, None) else {
            panic!("should fail")
        };
        assert!(
            reasons[0].contains("(20 of 100 requests: 12 HTTP 5xx, 8 gRPC errors)"),
            "{reasons:?}"
        );
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

    #[test]
    fn tally_counts_evidence_per_step_and_in_all() {
        let mut t = Tally::new(5);
        let inc = Verdict::Inconclusive { reason: "x".into() };
        t.record(&Verdict::Pass);
        t.new_step();
        t.record(&inc);
        t.record(&inc);
        assert_eq!((t.step_passes, t.step_windows), (0, 2));
        assert_eq!(t.summary(), "1 of 3 analysis windows passed");
    }

    #[test]
    fn no_evidence_names_the_missing_traffic() {
        let r = rules(r#"{"error_rate": "< 1%", "min_requests": 20}"#);
        let f = figures(3, 0, 1.0);
        let v = judge(&r, &f, None);
        assert_eq!(
            no_evidence(&r, Some((&f, &v))),
            "waiting for traffic: 3 of 20 requests in the last window"
        );
        assert!(no_evidence(&r, None).contains("no analysis window"));
    }
}
