//! The compiled, immutable form of one service's route that requests read: versions that
//! may get traffic, their ready targets, and handles to their metrics and in-flight counts.
//! An update builds a new snapshot and swaps it in; requests holding the old one finish
//! on it (connection draining).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use hyper::header::HeaderValue;
use tokio::sync::Semaphore;

use crate::metrics::VersionMetrics;
use crate::route::ServiceRoute;
use crate::select::{group_ready, pick_round_robin, pick_weighted};

/// One ready instance requests may be sent to.
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    /// `Host` for requests that came without one.
    pub(crate) host: HeaderValue,
    pub(crate) in_flight: Arc<AtomicUsize>,
    /// The backend's connection slots ([`crate::limits`]), looked up on first use.
    pub(crate) slots: OnceLock<Arc<Semaphore>>,
}

/// One version with weight and at least one ready target.
pub(crate) struct VersionTargets {
    pub(crate) version: String,
    pub(crate) metrics: Arc<VersionMetrics>,
    targets: Vec<Target>,
    next: AtomicUsize,
}

pub(crate) struct Snapshot {
    pub(crate) route: Option<ServiceRoute>,
    pub(crate) emergency_stop: bool,
    versions: Vec<VersionTargets>,
    weights: Vec<u64>,
    total: u64,
}

impl Snapshot {
    /// The table of a service nobody has routed yet: every request gets 503.
    pub(crate) fn empty() -> Self {
        Snapshot {
            route: None,
            emergency_stop: false,
            versions: Vec::new(),
            weights: Vec::new(),
            total: 0,
        }
    }

    /// Compiles `route`, taking each version's metrics and each address's in-flight counter
    /// from the given lookups so they survive across updates.
    pub(crate) fn compile(
        route: ServiceRoute,
        mut metrics_for: impl FnMut(&str) -> Arc<VersionMetrics>,
        mut in_flight_for: impl FnMut(SocketAddr) -> Arc<AtomicUsize>,
    ) -> Self {
        let groups = group_ready(&route.backends);
        let weights: Vec<u64> = groups.iter().map(|g| u64::from(g.weight)).collect();
        let versions: Vec<VersionTargets> = groups
            .into_iter()
            .map(|g| VersionTargets {
                version: g.version.to_string(),
                metrics: metrics_for(g.version),
                targets: g
                    .instances
                    .iter()
                    .map(|b| Target {
                        addr: b.addr,
                        host: HeaderValue::try_from(b.addr.to_string())
                            .expect("a socket address is a valid header value"),
                        in_flight: in_flight_for(b.addr),
                        slots: OnceLock::new(),
                    })
                    .collect(),
                next: AtomicUsize::new(0),
            })
            .collect();
        let total = weights.iter().sum();
        Snapshot {
            emergency_stop: route.emergency_stop,
            route: Some(route),
            versions,
            weights,
            total,
        }
    }

    /// Whether any version has weight and a ready target.
    pub(crate) fn is_routable(&self) -> bool {
        self.total > 0
    }

    /// Picks a version by weight, then an instance of it round-robin, avoiding the
    /// addresses in `tried`. `roll` is any uniformly random number.
    pub(crate) fn choose(
        &self,
        tried: &[SocketAddr],
        roll: u64,
    ) -> Option<(&VersionTargets, &Target)> {
        if self.total == 0 {
            return None;
        }
        let idx = if tried.is_empty() {
            pick_weighted(&self.weights, roll % self.total)?
        } else {
            let weights: Vec<u64> = self
                .versions
                .iter()
                .zip(&self.weights)
                .map(|(v, w)| {
                    if v.targets.iter().all(|t| tried.contains(&t.addr)) {
                        0
                    } else {
                        *w
                    }
                })
                .collect();
            let total: u64 = weights.iter().sum();
            if total == 0 {
                return None;
            }
            pick_weighted(&weights, roll % total)?
        };
        let version = &self.versions[idx];
        let start = version.next.fetch_add(1, Ordering::Relaxed);
        let t = pick_round_robin(version.targets.len(), start, |i| {
            tried.contains(&version.targets[i].addr)
        })?;
        Some((version, &version.targets[t]))
    }
}

/// Counts a request as in flight on a backend until dropped (with the response body).
pub(crate) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    pub(crate) fn start(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Backend;

    fn route(backends: &[(&str, u16, u32, bool)]) -> ServiceRoute {
        ServiceRoute {
            listen: ([127, 0, 0, 1], 80).into(),
            backends: backends
                .iter()
                .map(|&(v, port, weight, ready)| Backend {
                    version: v.into(),
                    instance: format!("{v}-{port}"),
                    addr: ([127, 0, 0, 1], port).into(),
                    weight,
                    ready,
                })
                .collect(),
            emergency_stop: false,
        }
    }

    fn compile(r: ServiceRoute) -> Snapshot {
        Snapshot::compile(
            r,
            |_| Arc::new(VersionMetrics::new(1)),
            |_| Arc::new(AtomicUsize::new(0)),
        )
    }

    #[test]
    fn rolls_map_to_versions_by_weight() {
        let s = compile(route(&[
            ("v1", 1, 75, true),
            ("v2", 2, 25, true),
            ("v3", 3, 50, false),
        ]));
        let mut per_version = [0; 2];
        for roll in 0..100 {
            let (v, _) = s.choose(&[], roll).unwrap();
            per_version[usize::from(v.version == "v2")] += 1;
        }
        assert_eq!(per_version, [75, 25]);
    }

    #[test]
    fn instances_take_turns_and_tried_ones_are_avoided() {
        let s = compile(route(&[
            ("v1", 1, 1, true),
            ("v1", 2, 1, true),
            ("v2", 3, 0, true),
        ]));
        let a = s.choose(&[], 0).unwrap().1.addr.port();
        let b = s.choose(&[], 0).unwrap().1.addr.port();
        assert_ne!(a, b);
        let first: SocketAddr = ([127, 0, 0, 1], 1).into();
        for roll in 0..10 {
            assert_eq!(s.choose(&[first], roll).unwrap().1.addr.port(), 2);
        }
        let second: SocketAddr = ([127, 0, 0, 1], 2).into();
        assert!(
            s.choose(&[first, second], 0).is_none(),
            "weight-0 v2 never gets traffic"
        );
    }

    #[test]
    fn empty_and_unready_tables_choose_nothing() {
        assert!(Snapshot::empty().choose(&[], 0).is_none());
        assert!(
            compile(route(&[("v1", 1, 100, false)]))
                .choose(&[], 7)
                .is_none()
        );
    }

    #[test]
    fn in_flight_guard_counts_down_on_drop() {
        let c = Arc::new(AtomicUsize::new(0));
        let g = InFlight::start(&c);
        assert_eq!(c.load(Ordering::Relaxed), 1);
        drop(g);
        assert_eq!(c.load(Ordering::Relaxed), 0);
    }
}
