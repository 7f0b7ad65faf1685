//! The router's lifetime counters as Prometheus families: requests by code class, latency
//! histograms, connection failures, upgrades and the requests no version answered.
//! Counters are brought up to the router's totals at each update, so they only grow.

use std::sync::Mutex;

use gantry_deploy::RequestTotals;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use super::{Labels, labels};

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// A histogram whose buckets are copied from the router's (an HDR histogram there).
#[derive(Debug, Default)]
pub(crate) struct CopiedHistogram(Mutex<Copied>);

/// Sum, count, and (upper bound, count in that bucket) ending with +Inf.
type Copied = (f64, u64, Vec<(f64, u64)>);

impl TypedMetric for CopiedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for CopiedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        encoder.encode_histogram::<NoLabelSet>(g.0, g.1, &g.2, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

impl CopiedHistogram {
    /// `cumulative`: (upper bound in seconds, responses at most that); the encoder wants
    /// per-bucket counts ending with +Inf.
    fn set(&self, sum: f64, count: u64, cumulative: &[(f64, u64)]) {
        let mut buckets = Vec::with_capacity(cumulative.len() + 1);
        let mut below = 0;
        for (bound, n) in cumulative {
            buckets.push((*bound, n.saturating_sub(below)));
            below = below.max(*n);
        }
        buckets.push((f64::INFINITY, count.saturating_sub(below)));
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = (sum, count, buckets);
    }
}

pub(crate) struct RouterFamilies {
    requests: Family<Labels, Counter>,
    duration: Family<Labels, CopiedHistogram>,
    connect_errors: Family<Labels, Counter>,
    upstream_errors: Family<Labels, Counter>,
    upgrades: Family<Labels, Counter>,
    open_upgrades: Family<Labels, Gauge>,
    client_errors: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
}

/// Raises `counter` to `total` (a counter never goes down, even if the router restarted).
fn raise(counter: &Counter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

impl RouterFamilies {
    pub(crate) fn register(r: &mut Registry) -> RouterFamilies {
        let f = RouterFamilies {
            requests: Family::default(),
            duration: Family::default(),
            connect_errors: Family::default(),
            upstream_errors: Family::default(),
            upgrades: Family::default(),
            open_upgrades: Family::default(),
            client_errors: Family::default(),
            rejected: Family::default(),
        };
        r.register(
            "router_requests",
            "Requests answered for a version, by status class (code: 1xx..5xx)",
            f.requests.clone(),
        );
        r.register(
            "router_request_duration_seconds",
            "Time to the response head of requests answered for a version",
            f.duration.clone(),
        );
        r.register(
            "router_connect_errors",
            "Connections to a version's instances that could not be made",
            f.connect_errors.clone(),
        );
        r.register(
            "router_upstream_errors",
            "Upstream failures after connecting (reset, early close, timeout)",
            f.upstream_errors.clone(),
        );
        r.register(
            "router_upgrades",
            "Connections upgraded (WebSocket and others) to a version",
            f.upgrades.clone(),
        );
        r.register(
            "router_open_upgrades",
            "Upgraded connections open now, per version",
            f.open_upgrades.clone(),
        );
        r.register(
            "router_client_errors",
            "Requests that failed on the client's side (408, 400), never a version's error",
            f.client_errors.clone(),
        );
        r.register(
            "router_rejected",
            "Requests or connections refused by the router itself, by reason (no_backend, emergency_stop, over_capacity, queue_timeout)",
            f.rejected.clone(),
        );
        f
    }

    pub(crate) fn update(&self, service: &str, t: &RequestTotals) {
        let s = labels(&[("service", service)]);
        raise(&self.client_errors.get_or_create(&s), t.client_errors);
        for (reason, n) in [
            ("no_backend", t.no_backend),
            ("emergency_stop", t.emergency_rejected),
            ("over_capacity", t.over_capacity),
            ("queue_timeout", t.queue_timeouts),
        ] {
            raise(
                &self
                    .rejected
                    .get_or_create(&labels(&[("service", service), ("reason", reason)])),
                n,
            );
        }
        for v in &t.versions {
            let l = labels(&[("service", service), ("version", &v.version)]);
            for (class, n) in CLASSES.iter().zip(v.by_class) {
                raise(
                    &self.requests.get_or_create(&labels(&[
                        ("service", service),
                        ("version", &v.version),
                        ("code", class),
                    ])),
                    n,
                );
            }
            raise(&self.connect_errors.get_or_create(&l), v.connect_errors);
            raise(&self.upstream_errors.get_or_create(&l), v.upstream_errors);
            raise(&self.upgrades.get_or_create(&l), v.upgrades);
            self.open_upgrades
                .get_or_create(&l)
                .set(i64::try_from(v.open_upgrades).unwrap_or(i64::MAX));
            let cumulative: Vec<(f64, u64)> = v
                .latency_buckets
                .iter()
                .map(|(b, n)| (b.as_secs_f64(), *n))
                .collect();
            self.duration.get_or_create(&l).set(
                v.latency_sum.as_secs_f64(),
                v.latency_count,
                &cumulative,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use gantry_deploy::VersionRequestTotals;

    use crate::metrics::Metrics;

    #[test]
    fn router_totals_become_counters_and_a_histogram() {
        let m = Metrics::new();
        let mut t = gantry_deploy::RequestTotals {
            client_errors: 2,
            over_capacity: 1,
            versions: vec![VersionRequestTotals {
                version: "v1".into(),
                by_class: [0, 7, 0, 1, 2],
                latency_sum: Duration::from_millis(300),
                latency_count: 10,
                latency_buckets: vec![
                    (Duration::from_millis(5), 4),
                    (Duration::from_millis(10), 9),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        m.router_totals("web", &t);
        // A restarted router counts from zero again: the counter does not go down.
        t.versions[0].by_class[4] = 1;
        m.router_totals("web", &t);
        let text = m.encode();
        for needle in [
            "gantry_router_requests_total{service=\"web\",version=\"v1\",code=\"2xx\"} 7",
            "gantry_router_requests_total{service=\"web\",version=\"v1\",code=\"5xx\"} 2",
            "gantry_router_client_errors_total{service=\"web\"} 2",
            "gantry_router_rejected_total{service=\"web\",reason=\"over_capacity\"} 1",
            "# TYPE gantry_router_request_duration_seconds histogram",
            "gantry_router_request_duration_seconds_bucket{le=\"0.005\",service=\"web\",version=\"v1\"} 4",
            "gantry_router_request_duration_seconds_bucket{le=\"0.01\",service=\"web\",version=\"v1\"} 9",
            "gantry_router_request_duration_seconds_bucket{le=\"+Inf\",service=\"web\",version=\"v1\"} 10",
            "gantry_router_request_duration_seconds_count{service=\"web\",version=\"v1\"} 10",
        ] {
            assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
        }
    }
}
