//! gantry's local driver: each instance is the release's command in its own process group
//! on a free loopback port, supervised (probes, restarts with backoff, crash loops
//! reported), behind gantry's own router on the service's stable address.
//!
//! Linux only: group liveness and orphan recognition read `/proc`.

mod cgroup;
mod cpu;
mod driver;
mod limits;
pub mod logfile;
mod probe;
pub mod process;
mod reclaim;
mod settings;
mod supervise;
mod totals;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_deploy::{InstanceEvent, InstanceStatus, Traffic};
use gantry_router::{Backend, Router, ServiceRoute};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use probe::probe_once;
pub use process::{Orphan, kill_orphan};
pub use settings::router_settings;

/// Timing knobs of the local driver.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// First restart delay; doubles per consecutive restart.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Restarts within `crash_loop_window` that count as a crash loop.
    pub crash_loop_restarts: usize,
    pub crash_loop_window: Duration,
    /// How long a stopping instance gets after SIGTERM before SIGKILL, unless its service
    /// has its own in `stop_grace_of`.
    pub stop_grace: Duration,
    /// Each service's own `stop_grace` (see [`LocalOptions::for_config`]).
    pub stop_grace_of: BTreeMap<String, Duration>,
    /// The router's timeouts and limits per service (see [`LocalOptions::for_config`]);
    /// a service not named here gets the router's defaults. Its `drain_timeout` is also
    /// how long a removed instance's requests and streams may go on before it is stopped.
    pub router: BTreeMap<String, gantry_router::ServiceConfig>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            crash_loop_restarts: 3,
            crash_loop_window: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
            stop_grace_of: BTreeMap::new(),
            router: BTreeMap::new(),
        }
    }
}

pub(crate) struct Instance {
    pub(crate) status: InstanceStatus,
    /// Taken out of traffic, being stopped.
    pub(crate) terminating: bool,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: Option<JoinHandle<()>>,
}

#[derive(Default)]
pub(crate) struct Service {
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) preview: Option<SocketAddr>,
    pub(crate) traffic: Traffic,
    pub(crate) instances: BTreeMap<String, Instance>,
    /// Router settings given after the driver was made (a service added by a reload);
    /// else those of [`LocalOptions`].
    pub(crate) router: Option<gantry_router::ServiceConfig>,
}

pub(crate) struct Shared {
    pub(crate) router: Router,
    services: Mutex<BTreeMap<String, Service>>,
    pub(crate) events: mpsc::Sender<InstanceEvent>,
    pub(crate) opts: LocalOptions,
}

/// The local driver. Cheap to clone.
#[derive(Clone)]
pub struct LocalDriver {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) fn preview_name(service: &str) -> String {
    format!("{service}@preview")
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Service>> {
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
    pub(crate) fn push_route(&self, service: &str) {
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
    pub fn new(router: Router, opts: LocalOptions) -> (Self, mpsc::Receiver<InstanceEvent>) {
        let (tx, rx) = mpsc::channel(gantry_deploy::EVENT_QUEUE);
        let shared = Arc::new(Shared {
            router,
            services: Mutex::new(BTreeMap::new()),
            events: tx,
            opts,
        });
        (LocalDriver { shared }, rx)
    }

    /// A driver with its own router.
    pub fn with_router(opts: LocalOptions) -> (Self, mpsc::Receiver<InstanceEvent>) {
        LocalDriver::new(Router::new(), opts)
    }

    pub fn router(&self) -> &Router {
        &self.shared.router
    }
}
