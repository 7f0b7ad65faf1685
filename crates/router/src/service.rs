//! One routed service: its current snapshot, its per-version metrics and per-backend
//! in-flight counters, which live across table updates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::metrics::{ServiceCounters, ServiceTotals, VersionMetrics};
use crate::route::ServiceRoute;
use crate::table::Snapshot;
use crate::window::{WindowRing, WindowStats};

pub(crate) struct ServiceState {
    pub(crate) name: String,
    snapshot: RwLock<Arc<Snapshot>>,
    versions: Mutex<HashMap<String, Arc<VersionMetrics>>>,
    in_flight: Mutex<HashMap<SocketAddr, Arc<AtomicUsize>>>,
    pub(crate) counters: ServiceCounters,
    window_secs: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ServiceState {
    pub(crate) fn new(name: &str, window_secs: usize) -> Self {
        ServiceState {
            name: name.to_string(),
            snapshot: RwLock::new(Arc::new(Snapshot::empty())),
            versions: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            counters: ServiceCounters::default(),
            window_secs,
        }
    }

    /// The table new requests use.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Swaps in a new table: requests that already picked a target finish there.
    pub(crate) fn update(&self, route: ServiceRoute) {
        let mut versions = lock(&self.versions);
        let mut in_flight = lock(&self.in_flight);
        // Forget counters of backends that are gone and idle.
        in_flight.retain(|addr, c| {
            c.load(Ordering::Acquire) > 0 || route.backends.iter().any(|b| b.addr == *addr)
        });
        let window_secs = self.window_secs;
        let snapshot = Snapshot::compile(
            route,
            |v| {
                Arc::clone(
                    versions
                        .entry(v.to_string())
                        .or_insert_with(|| Arc::new(VersionMetrics::new(window_secs))),
                )
            },
            |addr| Arc::clone(in_flight.entry(addr).or_default()),
        );
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }

    pub(crate) fn route(&self) -> Option<ServiceRoute> {
        self.snapshot().route.clone()
    }

    pub(crate) fn window_stats(&self, version: &str, now: u64, window: Duration) -> WindowStats {
        match lock(&self.versions).get(version) {
            Some(m) => m.window(now, window),
            None => WindowRing::new(self.window_secs).stats(now, window),
        }
    }

    pub(crate) fn totals(&self) -> ServiceTotals {
        let versions = lock(&self.versions);
        let mut list: Vec<_> = versions.iter().map(|(v, m)| m.totals(v)).collect();
        list.sort_by(|a, b| a.version.cmp(&b.version));
        ServiceTotals {
            service: self.name.clone(),
            no_backend: ServiceCounters::get(&self.counters.no_backend),
            emergency_rejected: ServiceCounters::get(&self.counters.emergency_rejected),
            client_errors: ServiceCounters::get(&self.counters.client_errors),
            over_capacity: ServiceCounters::get(&self.counters.over_capacity),
            queue_timeouts: ServiceCounters::get(&self.counters.queue_timeouts),
            versions: list,
        }
    }

    pub(crate) fn in_flight(&self, addr: SocketAddr) -> usize {
        lock(&self.in_flight)
            .get(&addr)
            .map_or(0, |c| c.load(Ordering::Acquire))
    }
}
