//! A [`Driver`] whose instances are plain records the test controls: a start can be held
//! until released, made to fail or to panic; an instance becomes ready (at once, by
//! default) or unready when the test says; measurements are what the test sets. Every
//! `set_traffic` call is recorded, and one can be held mid-call to stage a race.
//!
//! It reports the same instance events as a real driver, so the control plane records the
//! same `instance.*` entries.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use gantry_deploy::{
    BoxFuture, Driver, DriverError, EventKind, InstanceEvent, InstancePhase, InstanceSpec,
    InstanceStatus, Measurement, PriorInstance, Reclaimed, Traffic,
};
use tokio::sync::{mpsc, watch};

#[derive(Default)]
struct Inner {
    listen: BTreeMap<String, SocketAddr>,
    preview: BTreeMap<String, SocketAddr>,
    instances: BTreeMap<String, Vec<InstanceStatus>>,
    traffic: BTreeMap<String, Traffic>,
    traffic_log: Vec<(String, Traffic)>,
    /// Instance ids whose start returned, in order.
    started: Vec<String>,
    /// Starts waiting on a hold, by version.
    waiting: BTreeMap<String, usize>,
    waiting_stops: BTreeMap<String, usize>,
    fail: BTreeMap<String, String>,
    panic: BTreeSet<String>,
    /// Versions whose new instances stay not ready until the test says.
    not_ready: BTreeSet<String>,
    measurements: BTreeMap<String, Measurement>,
    /// `set_traffic` calls entered (whether or not held).
    traffic_calls: usize,
}

/// Holds one `set_traffic` call whose weights name a version, until released.
#[derive(Default)]
struct TrafficGate {
    version: Option<String>,
    /// A call is held in the gate now.
    holding: bool,
}

pub struct FakeDriver {
    inner: Mutex<Inner>,
    events: mpsc::Sender<InstanceEvent>,
    /// Versions whose starts are held; a start waits while its version is in the set.
    held: watch::Sender<BTreeSet<String>>,
    /// The same for stops.
    held_stops: watch::Sender<BTreeSet<String>>,
    gate: Mutex<TrafficGate>,
    gate_cv: Condvar,
    /// Bumped on every change, for condition waits.
    changed: watch::Sender<u64>,
}

impl FakeDriver {
    pub fn new() -> (Arc<FakeDriver>, mpsc::Receiver<InstanceEvent>) {
        let (tx, rx) = mpsc::channel(gantry_deploy::EVENT_QUEUE);
        let driver = FakeDriver {
            inner: Mutex::default(),
            events: tx,
            held: watch::Sender::new(BTreeSet::new()),
            held_stops: watch::Sender::new(BTreeSet::new()),
            gate: Mutex::default(),
            gate_cv: Condvar::new(),
            changed: watch::Sender::new(0),
        };
        (Arc::new(driver), rx)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Sent without waiting, since the test's own calls (`set_ready`) are synchronous; a
    /// full queue means the control plane stopped reading events, which fails the test.
    fn emit(&self, kind: EventKind, i: &InstanceStatus) {
        let sent = self.events.try_send(InstanceEvent {
            kind,
            service: i.service.clone(),
            version: i.version.clone(),
            instance: i.instance.clone(),
            detail: serde_json::Map::new(),
        });
        // Closed: the control plane is gone (a test that dropped it), nothing to tell.
        if let Err(mpsc::error::TrySendError::Full(ev)) = sent {
            panic!("fake driver: the control plane's event queue is full at {ev:?}");
        }
    }

    /// Starts of `version` wait from now on until [`FakeDriver::release_starts`].
    pub fn hold_starts(&self, version: &str) {
        self.held.send_modify(|h| {
            h.insert(version.to_string());
        });
    }

    pub fn release_starts(&self, version: &str) {
        self.held.send_modify(|h| {
            h.remove(version);
        });
    }

    /// Stops of `version` wait from now on until [`FakeDriver::release_stops`].
    pub fn hold_stops(&self, version: &str) {
        self.held_stops.send_modify(|h| {
            h.insert(version.to_string());
        });
    }

    pub fn release_stops(&self, version: &str) {
        self.held_stops.send_modify(|h| {
            h.remove(version);
        });
    }

    /// Stops of `version` waiting on a hold now.
    pub fn stops_waiting(&self, version: &str) -> usize {
        self.lock().waiting_stops.get(version).copied().unwrap_or(0)
    }

    /// Starts of `version` waiting on a hold now.
    pub fn starts_waiting(&self, version: &str) -> usize {
        self.lock().waiting.get(version).copied().unwrap_or(0)
    }

    /// Starts of `version` fail with `message`.
    pub fn fail_starts(&self, version: &str, message: &str) {
        self.lock()
            .fail
            .insert(version.to_string(), message.to_string());
    }

    /// Starts of `version` panic (a driver bug).
    pub fn panic_on_start(&self, version: &str) {
        self.lock().panic.insert(version.to_string());
    }

    /// Starts panic no more.
    pub fn clear_panics(&self) {
        self.lock().panic.clear();
    }

    /// New instances of `version` stay not ready until [`FakeDriver::set_ready`].
    pub fn start_unready(&self, version: &str) {
        self.lock().not_ready.insert(version.to_string());
    }

    /// Makes every live instance of `version` ready or unready (as probes would).
    pub fn set_ready(&self, version: &str, ready: bool) {
        let mut changed = Vec::new();
        {
            let mut inner = self.lock();
            if ready {
                inner.not_ready.remove(version);
            }
            for i in inner.instances.values_mut().flatten() {
                if i.version == version && i.ready != ready && i.phase != InstancePhase::Stopping {
                    i.ready = ready;
                    i.phase = if ready {
                        InstancePhase::Ready
                    } else {
                        InstancePhase::Unready
                    };
                    changed.push(i.clone());
                }
            }
        }
        for i in &changed {
            self.emit(
                if ready {
                    EventKind::Ready
                } else {
                    EventKind::Unready
                },
                i,
            );
        }
        self.bump();
    }

    /// What `measure` answers for `version` (on the stable and the preview address).
    pub fn set_measurement(&self, version: &str, m: Measurement) {
        self.lock().measurements.insert(version.to_string(), m);
    }

    /// Every `set_traffic` call so far, in order.
    pub fn traffic_log(&self) -> Vec<(String, Traffic)> {
        self.lock().traffic_log.clone()
    }

    /// How many `set_traffic` calls were entered (held ones included).
    pub fn traffic_calls(&self) -> usize {
        self.lock().traffic_calls
    }

    /// The traffic of `web` as last set.
    pub fn web_traffic(&self) -> Traffic {
        self.lock().traffic.get("web").cloned().unwrap_or_default()
    }

    /// Live instances of `version` of `service`.
    pub fn instances_of(&self, service: &str, version: &str) -> Vec<InstanceStatus> {
        self.instances(service)
            .into_iter()
            .filter(|i| i.version == version)
            .collect()
    }

    /// Instance ids whose start returned, in order.
    pub fn started(&self) -> Vec<String> {
        self.lock().started.clone()
    }

    /// The next `set_traffic` call whose weights give `version` a share blocks (its thread
    /// waits) until [`FakeDriver::release_traffic`]: it has computed what it writes, and
    /// anything written meanwhile is overwritten when it goes on.
    pub fn hold_traffic_naming(&self, version: &str) {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.version = Some(version.to_string());
    }

    /// Whether a `set_traffic` call is held in the gate now.
    pub fn traffic_held(&self) -> bool {
        self.gate.lock().unwrap_or_else(|e| e.into_inner()).holding
    }

    pub fn release_traffic(&self) {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.version = None;
        self.gate_cv.notify_all();
    }

    /// Waits (in the test's clock) until `cond` holds over this driver, re-checking on
    /// every change; panics after `limit`.
    pub async fn until(&self, limit: Duration, what: &str, cond: impl Fn(&FakeDriver) -> bool) {
        let mut rx = self.changed.subscribe();
        let wait = async {
            loop {
                if cond(self) {
                    return;
                }
                // Changes outside the driver (the control plane's own state) are seen on
                // the next tick.
                let _ = tokio::time::timeout(Duration::from_millis(10), rx.changed()).await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            panic!("timed out after {limit:?} waiting for {what}");
        }
    }
}

impl Driver for FakeDriver {
    fn open(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError> {
        self.lock().listen.insert(service.to_string(), listen);
        Ok(listen)
    }

    fn open_preview(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError> {
        self.lock().preview.insert(service.to_string(), listen);
        Ok(listen)
    }

    fn listen_addr(&self, service: &str) -> Option<SocketAddr> {
        self.lock().listen.get(service).copied()
    }

    fn preview_addr(&self, service: &str) -> Option<SocketAddr> {
        self.lock().preview.get(service).copied()
    }

    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<InstanceStatus, DriverError>> {
        Box::pin(async move {
            let version = spec.version.clone();
            let mut held = self.held.subscribe();
            if held.borrow().contains(&version) {
                *self.lock().waiting.entry(version.clone()).or_default() += 1;
                self.bump();
                let _ = held.wait_for(|h| !h.contains(&version)).await;
                *self.lock().waiting.entry(version.clone()).or_default() -= 1;
            }
            let (fail, panic, ready) = {
                let inner = self.lock();
                (
                    inner.fail.get(&version).cloned(),
                    inner.panic.contains(&version),
                    !inner.not_ready.contains(&version),
                )
            };
            if panic {
                panic!("fake driver: start of {} panicked", spec.instance);
            }
            if let Some(message) = fail {
                return Err(DriverError::Start {
                    service: spec.service,
                    instance: spec.instance,
                    message,
                });
            }
            let status = InstanceStatus {
                service: spec.service.clone(),
                version,
                instance: spec.instance.clone(),
                phase: if ready {
                    InstancePhase::Ready
                } else {
                    InstancePhase::Starting
                },
                ready,
                addr: None,
                pid: None,
                pgid: None,
                restarts: 0,
                probe_failures: 0,
                log: None,
                limits: gantry_deploy::Enforcement::None,
                last_exit: None,
            };
            {
                let mut inner = self.lock();
                inner
                    .instances
                    .entry(spec.service.clone())
                    .or_default()
                    .push(status.clone());
                inner.started.push(spec.instance.clone());
            }
            self.emit(EventKind::Started, &status);
            if ready {
                self.emit(EventKind::Ready, &status);
            }
            self.bump();
            Ok(status)
        })
    }

    fn stop<'a>(
        &'a self,
        service: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let version = self
                .instances(service)
                .into_iter()
                .find(|i| i.instance == instance)
                .map(|i| i.version);
            if let Some(version) = version {
                let mut held = self.held_stops.subscribe();
                if held.borrow().contains(&version) {
                    *self
                        .lock()
                        .waiting_stops
                        .entry(version.clone())
                        .or_default() += 1;
                    self.bump();
                    let _ = held.wait_for(|h| !h.contains(&version)).await;
                    *self
                        .lock()
                        .waiting_stops
                        .entry(version.clone())
                        .or_default() -= 1;
                }
            }
            let gone = {
                let mut inner = self.lock();
                let list = inner.instances.entry(service.to_string()).or_default();
                let at = list.iter().position(|i| i.instance == instance);
                at.map(|at| list.remove(at))
            };
            let Some(gone) = gone else {
                return Err(DriverError::UnknownInstance {
                    service: service.into(),
                    instance: instance.into(),
                });
            };
            self.emit(EventKind::Stopped, &gone);
            self.bump();
            Ok(())
        })
    }

    fn set_traffic(&self, service: &str, traffic: &Traffic) {
        self.lock().traffic_calls += 1;
        self.bump();
        {
            let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            let names = |g: &TrafficGate| {
                g.version
                    .as_ref()
                    .is_some_and(|v| traffic.weights.get(v).is_some_and(|w| *w > 0))
            };
            if names(&gate) {
                gate.holding = true;
                while names(&gate) {
                    gate = self.gate_cv.wait(gate).unwrap_or_else(|e| e.into_inner());
                }
                gate.holding = false;
            }
        }
        let mut inner = self.lock();
        inner.traffic.insert(service.to_string(), traffic.clone());
        inner
            .traffic_log
            .push((service.to_string(), traffic.clone()));
        drop(inner);
        self.bump();
    }

    fn traffic(&self, service: &str) -> Traffic {
        self.lock()
            .traffic
            .get(service)
            .cloned()
            .unwrap_or_default()
    }

    fn instances(&self, service: &str) -> Vec<InstanceStatus> {
        self.lock()
            .instances
            .get(service)
            .cloned()
            .unwrap_or_default()
    }

    fn measure(&self, _service: &str, version: &str, window: Duration) -> Measurement {
        let mut m = self
            .lock()
            .measurements
            .get(version)
            .copied()
            .unwrap_or_default();
        m.window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        m
    }

    fn measure_preview(&self, service: &str, version: &str, window: Duration) -> Measurement {
        self.measure(service, version, window)
    }

    fn reclaim(
        &self,
        _prior: PriorInstance,
        _adopt: Option<InstanceSpec>,
    ) -> BoxFuture<'_, Reclaimed> {
        // A fake driver has no processes from before: whatever the ledger remembers is gone.
        Box::pin(async { Reclaimed::Gone })
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let all: Vec<InstanceStatus> = {
                let mut inner = self.lock();
                std::mem::take(&mut inner.instances)
                    .into_values()
                    .flatten()
                    .collect()
            };
            for i in &all {
                self.emit(EventKind::Stopped, i);
            }
            self.bump();
        })
    }
}
