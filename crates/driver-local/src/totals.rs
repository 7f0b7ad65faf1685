//! The router's lifetime counters of a service, as the control plane's neutral
//! [`RequestTotals`] (for `/metrics`).

use gantry_deploy::{RequestTotals, VersionRequestTotals};
use gantry_router::ServiceTotals;

use crate::LocalDriver;

impl LocalDriver {
    pub(crate) fn request_totals_of(&self, service: &str) -> Option<RequestTotals> {
        self.shared
            .router
            .totals()
            .into_iter()
            .find(|t| t.service == service)
            .map(convert)
    }
}

fn convert(t: ServiceTotals) -> RequestTotals {
    RequestTotals {
        no_backend: t.no_backend,
        emergency_rejected: t.emergency_rejected,
        client_errors: t.client_errors,
        over_capacity: t.over_capacity,
        queue_timeouts: t.queue_timeouts,
        versions: t
            .versions
            .into_iter()
            .map(|v| {
                let s = v.counts.status;
                VersionRequestTotals {
                    version: v.version,
                    by_class: [s.s1xx, s.s2xx, s.s3xx, s.s4xx, s.s5xx],
                    connect_errors: v.counts.connect_errors,
                    upstream_errors: v.counts.upstream_errors,
                    upgrades: v.counts.upgrades,
                    open_upgrades: v.open_upgrades,
                    latency_sum: v.latency_sum,
                    latency_count: v.latency_count,
                    latency_buckets: v.latency_buckets,
                }
            })
            .collect(),
    }
}
