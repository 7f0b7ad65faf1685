//! gantry's Prometheus metrics (OpenMetrics text): probes, check rounds, the status, and
//! what the ledger and the control plane say about services, traffic, deployments,
//! rollbacks and pipeline runs. Names follow Prometheus conventions: `gantry_` prefix,
//! `_total` for counters, `_seconds` for durations.

use std::sync::atomic::AtomicU64;

use gantry_ledger::Entry;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::report::Report;

mod router;

type Labels = Vec<(String, String)>;
type FGauge = Gauge<f64, AtomicU64>;
type Hist = Family<Labels, Histogram, fn() -> Histogram>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn latency_buckets() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Fine around the 50 ms a probe may be late (bench/monitor-scale.sh reads its p99 from
/// these buckets), coarse past it.
pub const LATENESS_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 5.0,
];

fn lateness_buckets() -> Histogram {
    Histogram::new(LATENESS_BUCKETS)
}

fn run_buckets() -> Histogram {
    // 1 s .. ~9 h
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Request figures of one version over the recent window, from the router.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Window {
    pub requests: u64,
    pub errors_5xx: u64,
    pub p99_ms: f64,
}

/// Every metric gantry exports.
pub struct Metrics {
    registry: Registry,
    status: Gauge,
    service_status: Family<Labels, Gauge>,
    probe_success: Family<Labels, Gauge>,
    probes: Family<Labels, Counter>,
    probe_duration: Hist,
    rounds: Family<Labels, Counter>,
    round_lateness: Histogram,
    probe_lateness: Histogram,
    ready: Family<Labels, Gauge>,
    desired: Family<Labels, Gauge>,
    weight: Family<Labels, Gauge>,
    phase: Family<Labels, Gauge>,
    rollbacks: Family<Labels, Counter>,
    runs: Family<Labels, Counter>,
    run_duration: Hist,
    ledger_entries: Gauge,
    ledger_writable: Gauge,
    window_requests: Family<Labels, Gauge>,
    window_errors: Family<Labels, Gauge>,
    window_p99: Family<Labels, FGauge>,
    notifications: Family<Labels, Counter>,
    router: router::RouterFamilies,
    ledger_verified: Gauge,
    ledger_verified_at: Gauge,
    /// Run id → pipeline name, from `pipeline.state.started`/`resumed` (the end entries
    /// carry only the run).
    run_names: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    #[must_use]
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("gantry");
        let m = Metrics {
            status: Gauge::default(),
            service_status: Family::default(),
            probe_success: Family::default(),
            probes: Family::default(),
            probe_duration: Family::new_with_constructor(latency_buckets as fn() -> Histogram),
            rounds: Family::default(),
            round_lateness: latency_buckets(),
            probe_lateness: lateness_buckets(),
            ready: Family::default(),
            desired: Family::default(),
            weight: Family::default(),
            phase: Family::default(),
            rollbacks: Family::default(),
            runs: Family::default(),
            run_duration: Family::new_with_constructor(run_buckets as fn() -> Histogram),
            ledger_entries: Gauge::default(),
            ledger_writable: Gauge::default(),
            window_requests: Family::default(),
            window_errors: Family::default(),
            window_p99: Family::default(),
            notifications: Family::default(),
            router: router::RouterFamilies::register(&mut r),
            ledger_verified: Gauge::default(),
            ledger_verified_at: Gauge::default(),
            run_names: std::sync::Mutex::default(),
            registry: Registry::default(),
        };
        r.register(
            "ledger_verify_success",
            "Result of the last `ledger verify` the control plane ran: 1 verified, 0 failed",
            m.ledger_verified.clone(),
        );
        r.register(
            "ledger_verify_timestamp_seconds",
            "When the control plane last verified its ledger (Unix time)",
            m.ledger_verified_at.clone(),
        );
        r.register(
            "status",
            "Overall status: 0 OPERATIONAL, 1 DEGRADED, 2 CRITICAL",
            m.status.clone(),
        );
        r.register(
            "service_status",
            "Status of a service: 0 OPERATIONAL, 1 DEGRADED, 2 CRITICAL",
            m.service_status.clone(),
        );
        r.register(
            "probe_success",
            "Whether the last probe of a target passed (1) or failed (0)",
            m.probe_success.clone(),
        );
        r.register(
            "probes",
            "Probes by target and result (ok, failed)",
            m.probes.clone(),
        );
        r.register(
            "probe_duration_seconds",
            "How long probes took, by target",
            m.probe_duration.clone(),
        );
        r.register(
            "check_rounds",
            "Check rounds by trigger (schedule, event, refresh)",
            m.rounds.clone(),
        );
        r.register(
            "check_round_lateness_seconds",
            "How late scheduled check rounds started against their schedule",
            m.round_lateness.clone(),
        );
        r.register(
            "probe_lateness_seconds",
            "How late each scheduled probe started against its due time",
            m.probe_lateness.clone(),
        );
        r.register(
            "instances_ready",
            "Ready instances of a service",
            m.ready.clone(),
        );
        r.register(
            "instances_desired",
            "Desired instances of a service (`instances:`)",
            m.desired.clone(),
        );
        r.register(
            "traffic_weight_percent",
            "Share of a service's traffic per version, percent",
            m.weight.clone(),
        );
        r.register(
            "deployment_phase",
            "1 for the phase of a service's latest deployment",
            m.phase.clone(),
        );
        r.register(
            "rollbacks",
            "Rollbacks by service and trigger (automatic, manual)",
            m.rollbacks.clone(),
        );
        r.register(
            "pipeline_runs",
            "Finished pipeline runs by pipeline and status",
            m.runs.clone(),
        );
        r.register(
            "pipeline_run_duration_seconds",
            "Durations of finished pipeline runs",
            m.run_duration.clone(),
        );
        r.register(
            "ledger_entries",
            "Entries in the evidence ledger",
            m.ledger_entries.clone(),
        );
        r.register(
            "ledger_writable",
            "1 while the control plane can write its ledger, else 0",
            m.ledger_writable.clone(),
        );
        r.register(
            "router_window_requests",
            "Requests per version in the router's recent window",
            m.window_requests.clone(),
        );
        r.register(
            "router_window_errors_5xx",
            "5xx answers per version in the router's recent window",
            m.window_errors.clone(),
        );
        r.register(
            "router_window_latency_p99_seconds",
            "p99 latency per version in the router's recent window",
            m.window_p99.clone(),
        );
        r.register(
            "notifications",
            "Notification messages by channel and outcome (sent, failed, dropped)",
            m.notifications.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// One probe's result.
    pub fn probe(&self, target: &str, ok: bool, latency_ms: f64) {
        let result = if ok { "ok" } else { "failed" };
        self.probes
            .get_or_create(&labels(&[("target", target), ("result", result)]))
            .inc();
        self.probe_success
            .get_or_create(&labels(&[("target", target)]))
            .set(i64::from(ok));
        self.probe_duration
            .get_or_create(&labels(&[("target", target)]))
            .observe(latency_ms / 1000.0);
    }

    /// The data plane's lifetime counters of `service`.
    pub fn router_totals(&self, service: &str, totals: &gantry_deploy::RequestTotals) {
        self.router.update(service, totals);
    }

    /// The result of a ledger verification at `unix_secs`.
    pub fn ledger_verified(&self, ok: bool, unix_secs: i64) {
        self.ledger_verified.set(i64::from(ok));
        self.ledger_verified_at.set(unix_secs);
    }

    /// A check round started; `lateness` only for scheduled rounds.
    pub fn round(&self, trigger: &str, lateness: Option<std::time::Duration>) {
        self.rounds
            .get_or_create(&labels(&[("trigger", trigger)]))
            .inc();
        if let Some(l) = lateness {
            self.round_lateness.observe(l.as_secs_f64());
        }
    }

    /// How late one scheduled probe started, from its due time (not from the previous
    /// probe's end, so a backlog shows).
    pub fn probe_lateness(&self, late: std::time::Duration) {
        self.probe_lateness.observe(late.as_secs_f64());
    }

    /// Counts what one ledger entry says (rollbacks, finished runs); fed every entry once,
    /// in order, from the start of the ledger.
    pub fn entry(&self, entry: &Entry) {
        self.ledger_entries
            .set(i64::try_from(entry.seq).unwrap_or(i64::MAX));
        let s = |name: &str| entry.body.get(name).and_then(|v| v.as_str()).unwrap_or("");
        match entry.kind.as_str() {
            "rollback.triggered" => {
                self.rollbacks
                    .get_or_create(&labels(&[
                        ("service", s("service")),
                        ("trigger", "automatic"),
                    ]))
                    .inc();
            }
            "rollback.planned" => {
                self.rollbacks
                    .get_or_create(&labels(&[("service", s("service")), ("trigger", "manual")]))
                    .inc();
            }
            "pipeline.state.started" | "pipeline.state.resumed" if !s("pipeline").is_empty() => {
                self.run_names
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(s("run").to_string(), s("pipeline").to_string());
            }
            "pipeline.state.succeeded" | "pipeline.state.failed" => {
                let status = entry.kind.trim_start_matches("pipeline.state.");
                let pipeline = s("pipeline");
                let known = self
                    .run_names
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(s("run"));
                let pipeline = match known {
                    _ if !pipeline.is_empty() => pipeline.to_string(),
                    Some(name) => name,
                    None => run_pipeline(s("run")),
                };
                self.runs
                    .get_or_create(&labels(&[("pipeline", &pipeline), ("status", status)]))
                    .inc();
                if let Some(ms) = entry
                    .body
                    .get("duration_ms")
                    .and_then(serde_json::Value::as_u64)
                {
                    self.run_duration
                        .get_or_create(&labels(&[("pipeline", &pipeline)]))
                        .observe(ms as f64 / 1000.0);
                }
            }
            _ => {}
        }
    }

    /// Sets the gauges from a fresh report, the state's deployment phases and the router's
    /// window figures (service, version) → figures.
    pub fn report(
        &self,
        report: &Report,
        state: &gantry_state::State,
        windows: &std::collections::BTreeMap<(String, String), Window>,
        ledger_writable: bool,
    ) {
        self.status.set(report.status.as_number());
        self.ledger_writable.set(i64::from(ledger_writable));
        for family in [
            &self.service_status,
            &self.ready,
            &self.desired,
            &self.weight,
            &self.phase,
            &self.window_requests,
            &self.window_errors,
        ] {
            family.clear();
        }
        self.window_p99.clear();
        for svc in &report.services {
            let l = labels(&[("service", &svc.name)]);
            self.service_status
                .get_or_create(&l)
                .set(svc.status.as_number());
            if let Some(ready) = svc.ready {
                self.ready.get_or_create(&l).set(i64::from(ready));
            }
            self.desired.get_or_create(&l).set(i64::from(svc.desired));
            for (version, share) in &svc.traffic {
                self.weight
                    .get_or_create(&labels(&[("service", &svc.name), ("version", version)]))
                    .set(i64::from(*share));
            }
            if let Some(d) = state
                .services
                .services
                .get(&svc.name)
                .and_then(|v| v.deployment.as_ref())
            {
                self.phase
                    .get_or_create(&labels(&[("service", &svc.name), ("phase", &d.phase)]))
                    .set(1);
            }
        }
        for ((service, version), w) in windows {
            let l = labels(&[("service", service), ("version", version)]);
            self.window_requests
                .get_or_create(&l)
                .set(i64::try_from(w.requests).unwrap_or(i64::MAX));
            self.window_errors
                .get_or_create(&l)
                .set(i64::try_from(w.errors_5xx).unwrap_or(i64::MAX));
            self.window_p99.get_or_create(&l).set(w.p99_ms / 1000.0);
        }
    }

    /// One notification message's outcome on a channel.
    pub fn notification(&self, channel: &str, outcome: &str) {
        self.notifications
            .get_or_create(&labels(&[("channel", channel), ("outcome", outcome)]))
            .inc();
    }

    /// The OpenMetrics text (ends with `# EOF`).
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Run ids are `<start time>-<pipeline>-<n>`; the pipeline's name when an entry lacks it.
fn run_pipeline(run: &str) -> String {
    let mut parts: Vec<&str> = run.split('-').collect();
    if parts.len() >= 3 {
        parts.remove(0);
        parts.pop();
        parts.join("-")
    } else {
        run.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_openmetrics_with_conventional_names() {
        let m = Metrics::new();
        m.probe("api", true, 12.0);
        m.probe("api", false, 30.0);
        m.round("schedule", Some(std::time::Duration::from_millis(3)));
        let text = m.encode();
        assert!(
            text.contains("gantry_probes_total{target=\"api\",result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gantry_probe_success{target=\"api\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE gantry_probe_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("gantry_check_rounds_total{trigger=\"schedule\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(
            run_pipeline("20261201T100000Z-release-candidate-3"),
            "release-candidate"
        );
    }
}
