//! The [`Router`]: listeners per service, table updates, measurements, shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::accept::{Dispatch, Listening, accept_loop};
use crate::config::{RouterConfig, ServiceConfig};
use crate::error::RouterError;
use crate::metrics::ServiceTotals;
use crate::proxy::Proxy;
use crate::route::{RoutingTable, ServiceRoute};
use crate::service::ServiceState;
use crate::window::WindowStats;
use crate::workers::Workers;

/// gantry's data plane: a weighted HTTP/1.1 reverse proxy per service, driven by the
/// routing table the control plane hands it. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    proxy: Arc<Proxy>,
    services: RwLock<HashMap<String, Arc<ServiceState>>>,
    listeners: Mutex<HashMap<String, Listener>>,
    /// Started by the first `serve` when [`RouterConfig::workers`] > 0, shared by all
    /// services.
    workers: Mutex<Option<Arc<Workers>>>,
    shut_down: AtomicBool,
    /// Whether the shared proxy's idle-connection timer runs (started by the first
    /// `serve` that uses it, on that runtime).
    sweeping: AtomicBool,
}

struct Listener {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A service being served: where it actually listens (useful with port 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceHandle {
    service: String,
    local_addr: SocketAddr,
}

impl ServiceHandle {
    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

impl Router {
    pub fn new() -> Self {
        Self::with_config(RouterConfig::default())
    }

    pub fn with_config(config: RouterConfig) -> Self {
        Router {
            inner: Arc::new(Inner {
                proxy: Arc::new(Proxy::new(config)),
                services: RwLock::new(HashMap::new()),
                listeners: Mutex::new(HashMap::new()),
                workers: Mutex::new(None),
                shut_down: AtomicBool::new(false),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> &RouterConfig {
        &self.inner.proxy.config
    }

    fn state(&self, service: &str) -> Arc<ServiceState> {
        if let Some(s) = self
            .inner
            .services
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
        {
            return Arc::clone(s);
        }
        let mut services = self
            .inner
            .services
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let window_secs = self.inner.proxy.config.window_secs();
        Arc::clone(
            services
                .entry(service.to_string())
                .or_insert_with(|| Arc::new(ServiceState::new(service, window_secs))),
        )
    }

    fn existing(&self, service: &str) -> Option<Arc<ServiceState>> {
        self.inner
            .services
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
            .cloned()
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Listener>> {
        self.inner
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Binds `listen` for `service` and serves it on the current tokio runtime until
    /// [`Router::stop`] or [`Router::shutdown`], with the timeouts and limits of
    /// [`RouterConfig::service`]. Until a route is set with [`Router::update`], requests
    /// get 503.
    pub fn serve(&self, service: &str, listen: SocketAddr) -> Result<ServiceHandle, RouterError> {
        self.serve_with(service, listen, self.inner.proxy.config.service.clone())
    }

    /// [`Router::serve`] with this listener's own timeouts and limits.
    pub fn serve_with(
        &self,
        service: &str,
        listen: SocketAddr,
        settings: ServiceConfig,
    ) -> Result<ServiceHandle, RouterError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| RouterError::NoRuntime)?;
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(RouterError::ShutDown);
        }
        let mut listeners = self.listeners();
        if let Some(l) = listeners.get(service) {
            return Err(RouterError::AlreadyServing {
                service: service.to_string(),
                addr: l.addr,
            });
        }
        let bind_err = |source| RouterError::Bind {
            service: service.to_string(),
            addr: listen,
            source,
        };
        let std_listener = std::net::TcpListener::bind(listen).map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let local_addr = std_listener.local_addr().map_err(bind_err)?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(std_listener).map_err(bind_err)?
        };
        let tls = match &settings.tls {
            None => None,
            Some(files) => Some(
                crate::tls::TlsReloader::new(files.clone()).map_err(|source| RouterError::Tls {
                    service: service.to_string(),
                    source,
                })?,
            ),
        };
        let dispatch = self.dispatch()?;
        let (stop, stop_rx) = watch::channel(false);
        let state = self.state(service);
        let drain_timeout = settings.drain_timeout;
        let task = runtime.spawn(accept_loop(
            listener,
            Listening::new(state, settings).with_tls(tls),
            dispatch,
            drain_timeout,
            stop_rx,
        ));
        listeners.insert(
            service.to_string(),
            Listener {
                addr: local_addr,
                stop,
                task,
            },
        );
        tracing::info!(service, addr = %local_addr, "router listening");
        Ok(ServiceHandle {
            service: service.to_string(),
            local_addr,
        })
    }

    /// Where `serve` hands accepted connections: the worker threads (started on first
    /// use) or the caller's runtime.
    fn dispatch(&self) -> Result<Dispatch, RouterError> {
        let proxy = &self.inner.proxy;
        if proxy.config.workers == 0 {
            if !self.inner.sweeping.swap(true, Ordering::AcqRel) {
                tokio::spawn(proxy.sweeper());
            }
            return Ok(Dispatch::Local(Arc::clone(proxy)));
        }
        let mut workers = self.inner.workers.lock().unwrap_or_else(|e| e.into_inner());
        if workers.is_none() {
            let started = Workers::start(
                proxy.config.workers,
                &proxy.config,
                proxy.clock,
                proxy.limits(),
            )
            .map_err(|source| RouterError::Workers { source })?;
            *workers = Some(Arc::new(started));
        }
        Ok(Dispatch::Workers(Arc::clone(
            workers.as_ref().expect("set above"),
        )))
    }

    /// Replaces `service`'s route atomically: new requests use the new targets, requests
    /// already forwarded finish where they are.
    pub fn update(&self, service: &str, route: ServiceRoute) {
        self.state(service).update(route);
    }

    /// Applies every route of `table` (see [`Router::update`]); services absent from the
    /// table keep their current route.
    pub fn apply(&self, table: &RoutingTable) {
        for (service, route) in &table.services {
            self.update(service, route.clone());
        }
    }

    /// The route `service` currently uses, if one was set.
    pub fn route(&self, service: &str) -> Option<ServiceRoute> {
        self.existing(service).and_then(|s| s.route())
    }

    /// Where `service` is served, if it is.
    pub fn local_addr(&self, service: &str) -> Option<SocketAddr> {
        self.listeners().get(service).map(|l| l.addr)
    }

    /// Measurements of `version` of `service` over the last `window` (whole seconds, the
    /// current one included, at most [`RouterConfig::window_capacity`]). All zero for a
    /// version that has had no traffic.
    pub fn window_stats(&self, service: &str, version: &str, window: Duration) -> WindowStats {
        let now = self.inner.proxy.clock.now_sec();
        match self.existing(service) {
            Some(s) => s.window_stats(version, now, window),
            None => ServiceState::new(service, 1).window_stats(version, now, window),
        }
    }

    /// Cumulative measurements of every service (for Prometheus), sorted by service name.
    pub fn totals(&self) -> Vec<ServiceTotals> {
        let services: Vec<_> = self
            .inner
            .services
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut all: Vec<_> = services.iter().map(|s| s.totals()).collect();
        all.sort_by(|a, b| a.service.cmp(&b.service));
        all
    }

    /// Requests of `service` currently being forwarded to `backend` (including responses
    /// still streaming). The control plane waits for 0 before stopping a removed instance.
    pub fn in_flight(&self, service: &str, backend: SocketAddr) -> usize {
        self.existing(service).map_or(0, |s| s.in_flight(backend))
    }

    /// Stops serving `service`: closes its listener, lets in-flight requests finish (up to
    /// its [`ServiceConfig::drain_timeout`]). Its route and measurements are kept.
    pub async fn stop(&self, service: &str) {
        let listener = self.listeners().remove(service);
        if let Some(l) = listener {
            drain(l).await;
        }
    }

    /// Stops every listener gracefully; afterwards `serve` fails with
    /// [`RouterError::ShutDown`].
    pub async fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::Release);
        let listeners: Vec<Listener> = self.listeners().drain().map(|(_, l)| l).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for l in listeners {
            tasks.spawn(drain(l));
        }
        while tasks.join_next().await.is_some() {}
    }
}

async fn drain(listener: Listener) {
    let _ = listener.stop.send(true);
    let _ = listener.task.await;
}
