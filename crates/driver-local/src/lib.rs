//! gantry's local driver: each instance is the release's command in its own process group
//! on a free loopback port, supervised (probes, restarts with backoff, crash loops
//! reported), behind gantry's own router on the service's stable address.
//!
//! Linux only: group liveness and orphan recognition read `/proc`.

mod probe;
pub mod process;
mod supervise;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_deploy::{
    Driver, DriverError, InstanceEvent, InstancePhase, InstanceSpec, InstanceStatus, Measurement,
    Traffic,
};
use gantry_router::{Backend, Router, ServiceRoute};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use probe::probe_once;
pub use process::{Orphan, kill_orphan};

/// Timing knobs of the local driver.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// First restart delay; doubles per consecutive restart.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Restarts within `crash_loop_window` that count as a crash loop.
    pub crash_loop_restarts: usize,
    pub crash_loop_window: Duration,
    /// How long a stopping instance gets after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    /// How long to wait for in-flight requests of a removed instance.
    pub drain_timeout: Duration,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            crash_loop_restarts: 3,
            crash_loop_window: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

pub(crate) struct Instance {
    pub(crate) status: InstanceStatus,
    /// Taken out of traffic, being stopped.
    pub(crate) terminating: bool,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Service {
    listen: Option<SocketAddr>,
    preview: Option<SocketAddr>,
    traffic: Traffic,
    instances: BTreeMap<String, Instance>,
}

pub(crate) struct Shared {
    router: Router,
    services: Mutex<BTreeMap<String, Service>>,
    pub(crate) events: mpsc::UnboundedSender<InstanceEvent>,
    pub(crate) opts: LocalOptions,
}

/// The local driver. Cheap to clone.
#[derive(Clone)]
pub struct LocalDriver {
    shared: Arc<Shared>,
}

fn preview_name(service: &str) -> String {
    format!("{service}@preview")
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Service>> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `f` to an instance's status; re-routes if readiness changed.
    pub(crate) fn update(
        &self,
        service: &str,
        instance: &str,
        f: impl FnOnce(&mut InstanceStatus),
    ) {
        let changed = {
            let mut services = self.lock();
            let Some(inst) = services
                .get_mut(service)
                .and_then(|s| s.instances.get_mut(instance))
            else {
                return;
            };
            let (ready, addr) = (inst.status.ready, inst.status.addr);
            f(&mut inst.status);
            ready != inst.status.ready || addr != inst.status.addr
        };
        if changed {
            self.push_route(service);
        }
    }

    pub(crate) fn is_terminating(&self, service: &str, instance: &str) -> bool {
        self.lock()
            .get(service)
            .and_then(|s| s.instances.get(instance))
            .is_none_or(|i| i.terminating)
    }

    /// Hands the router the current table of `service` (and of its preview address).
    fn push_route(&self, service: &str) {
        let (route, preview) = {
            let services = self.lock();
            let Some(svc) = services.get(service) else {
                return;
            };
            let backends = |weight_of: &dyn Fn(&str) -> u32| -> Vec<Backend> {
                svc.instances
                    .values()
                    .filter(|i| !i.terminating)
                    .filter_map(|i| {
                        Some(Backend {
                            version: i.status.version.clone(),
                            instance: i.status.instance.clone(),
                            addr: i.status.addr?,
                            weight: weight_of(&i.status.version),
                            ready: i.status.ready,
                        })
                    })
                    .collect()
            };
            let route = svc.listen.map(|listen| ServiceRoute {
                listen,
                backends: backends(&|v| svc.traffic.weights.get(v).copied().unwrap_or(0)),
                emergency_stop: svc.traffic.emergency_stop,
            });
            let preview = svc.preview.map(|listen| ServiceRoute {
                listen,
                backends: backends(&|v| u32::from(svc.traffic.preview.as_deref() == Some(v))),
                emergency_stop: svc.traffic.emergency_stop,
            });
            (route, preview)
        };
        if let Some(route) = route {
            self.router.update(service, route);
        }
        if let Some(route) = preview {
            self.router.update(&preview_name(service), route);
        }
    }
}

impl LocalDriver {
    /// A driver whose instance transitions arrive on the returned receiver.
    pub fn new(
        router: Router,
        opts: LocalOptions,
    ) -> (Self, mpsc::UnboundedReceiver<InstanceEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            router,
            services: Mutex::new(BTreeMap::new()),
            events: tx,
            opts,
        });
        (LocalDriver { shared }, rx)
    }

    pub fn router(&self) -> &Router {
        &self.shared.router
    }

    /// The address `service` is served on, if it is.
    pub fn listen_addr(&self, service: &str) -> Option<SocketAddr> {
        self.shared.lock().get(service).and_then(|s| s.listen)
    }

    pub fn preview_addr(&self, service: &str) -> Option<SocketAddr> {
        self.shared.lock().get(service).and_then(|s| s.preview)
    }

    pub fn traffic(&self, service: &str) -> Traffic {
        self.shared
            .lock()
            .get(service)
            .map(|s| s.traffic.clone())
            .unwrap_or_default()
    }
}

fn listen_error(service: &str, addr: SocketAddr, e: impl std::fmt::Display) -> DriverError {
    DriverError::Listen {
        service: service.into(),
        addr,
        message: e.to_string(),
    }
}

impl Driver for LocalDriver {
    fn open(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError> {
        if let Some(addr) = self.listen_addr(service) {
            return Ok(addr);
        }
        let handle = self
            .shared
            .router
            .serve(service, listen)
            .map_err(|e| listen_error(service, listen, e))?;
        let addr = handle.local_addr();
        self.shared
            .lock()
            .entry(service.to_string())
            .or_default()
            .listen = Some(addr);
        self.shared.push_route(service);
        Ok(addr)
    }

    fn open_preview(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError> {
        if let Some(addr) = self.preview_addr(service) {
            return Ok(addr);
        }
        let handle = self
            .shared
            .router
            .serve(&preview_name(service), listen)
            .map_err(|e| listen_error(service, listen, e))?;
        let addr = handle.local_addr();
        self.shared
            .lock()
            .entry(service.to_string())
            .or_default()
            .preview = Some(addr);
        self.shared.push_route(service);
        Ok(addr)
    }

    async fn start(&self, spec: InstanceSpec) -> Result<InstanceStatus, DriverError> {
        let status = InstanceStatus {
            service: spec.service.clone(),
            version: spec.version.clone(),
            instance: spec.instance.clone(),
            phase: InstancePhase::Starting,
            ready: false,
            addr: None,
            pid: None,
            pgid: None,
            restarts: 0,
            probe_failures: 0,
            log: None,
        };
        let (stop, stop_rx) = watch::channel(false);
        {
            let mut services = self.shared.lock();
            let svc = services.entry(spec.service.clone()).or_default();
            if svc.instances.contains_key(&spec.instance) {
                return Err(DriverError::Start {
                    service: spec.service.clone(),
                    instance: spec.instance.clone(),
                    message: "an instance with this id exists".into(),
                });
            }
            svc.instances.insert(
                spec.instance.clone(),
                Instance {
                    status: status.clone(),
                    terminating: false,
                    stop,
                    task: None,
                },
            );
        }
        let (service, instance) = (spec.service.clone(), spec.instance.clone());
        let task = tokio::spawn(supervise::supervise(
            Arc::clone(&self.shared),
            spec,
            stop_rx,
        ));
        if let Some(i) = self
            .shared
            .lock()
            .get_mut(&service)
            .and_then(|s| s.instances.get_mut(&instance))
        {
            i.task = Some(task);
        }
        Ok(status)
    }

    async fn stop(&self, service: &str, instance: &str) -> Result<(), DriverError> {
        let (addr, task, stop) = {
            let mut services = self.shared.lock();
            let inst = services
                .get_mut(service)
                .and_then(|s| s.instances.get_mut(instance))
                .ok_or_else(|| DriverError::UnknownInstance {
                    service: service.into(),
                    instance: instance.into(),
                })?;
            inst.terminating = true;
            inst.status.phase = InstancePhase::Stopping;
            (inst.status.addr, inst.task.take(), inst.stop.clone())
        };
        // Out of the routing table first; then let requests already sent there finish.
        self.shared.push_route(service);
        if let Some(addr) = addr {
            let deadline = tokio::time::Instant::now() + self.shared.opts.drain_timeout;
            while self.shared.router.in_flight(service, addr) > 0
                || self.shared.router.in_flight(&preview_name(service), addr) > 0
            {
                if tokio::time::Instant::now() > deadline {
                    tracing::warn!(
                        service,
                        instance,
                        "requests still in flight after the drain timeout"
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let _ = stop.send(true);
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Some(svc) = self.shared.lock().get_mut(service) {
            svc.instances.remove(instance);
        }
        Ok(())
    }

    fn set_traffic(&self, service: &str, traffic: &Traffic) {
        self.shared
            .lock()
            .entry(service.to_string())
            .or_default()
            .traffic = traffic.clone();
        self.shared.push_route(service);
    }

    fn instances(&self, service: &str) -> Vec<InstanceStatus> {
        self.shared
            .lock()
            .get(service)
            .map(|s| s.instances.values().map(|i| i.status.clone()).collect())
            .unwrap_or_default()
    }

    fn measure(&self, service: &str, version: &str, window: Duration) -> Measurement {
        let s = self.shared.router.window_stats(service, version, window);
        Measurement {
            requests: s.requests,
            errors_5xx: s.errors_5xx,
            error_rate: s.error_rate,
            p99_ms: s.p99.as_secs_f64() * 1000.0,
            window_ms: u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX),
        }
    }

    async fn shutdown(&self) {
        let all: Vec<(String, String)> = self
            .shared
            .lock()
            .iter()
            .flat_map(|(s, svc)| svc.instances.keys().map(move |i| (s.clone(), i.clone())))
            .collect();
        let mut stops = tokio::task::JoinSet::new();
        for (service, instance) in all {
            let me = self.clone();
            stops.spawn(async move { me.stop(&service, &instance).await });
        }
        while stops.join_next().await.is_some() {}
        self.shared.router.shutdown().await;
    }
}
