//! [`Driver`] for [`LocalDriver`]: the router serves each service's addresses, instances
//! are supervised process groups.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gantry_deploy::{
    BoxFuture, Driver, DriverError, InstancePhase, InstanceSpec, InstanceStatus, Measurement,
    PriorInstance, Reclaimed, Traffic,
};
use tokio::sync::watch;

use crate::supervise::{Adopted, supervise};
use crate::{Instance, LocalDriver, preview_name};

fn listen_error(service: &str, addr: SocketAddr, e: impl std::fmt::Display) -> DriverError {
    DriverError::Listen {
        service: service.into(),
        addr,
        message: e.to_string(),
    }
}

impl LocalDriver {
    /// Registers the instance and starts its supervisor (on a fresh process, or on an
    /// adopted one).
    pub(crate) fn launch(
        &self,
        spec: InstanceSpec,
        adopted: Option<Adopted>,
    ) -> Result<InstanceStatus, DriverError> {
        let status = InstanceStatus {
            service: spec.service.clone(),
            version: spec.version.clone(),
            instance: spec.instance.clone(),
            phase: InstancePhase::Starting,
            ready: false,
            addr: adopted.as_ref().map(|a| a.addr),
            pid: adopted.as_ref().map(|a| a.pid),
            pgid: adopted.as_ref().map(|a| a.pgid),
            restarts: 0,
            probe_failures: 0,
            log: None,
            limits: gantry_deploy::Enforcement::None,
            last_exit: None,
        };
        let (stop, stop_rx) = watch::channel(false);
        let mut services = self.shared.lock();
        let svc = services.entry(spec.service.clone()).or_default();
        if svc.instances.contains_key(&spec.instance) {
            return Err(DriverError::Start {
                service: spec.service.clone(),
                instance: spec.instance.clone(),
                message: "an instance with this id exists".into(),
            });
        }
        let instance = spec.instance.clone();
        // Spawned under the lock, so the supervisor's first update finds its entry.
        let task = tokio::spawn(supervise(Arc::clone(&self.shared), spec, stop_rx, adopted));
        svc.instances.insert(
            instance,
            Instance {
                status: status.clone(),
                terminating: false,
                stop,
                task: Some(task),
            },
        );
        Ok(status)
    }

    async fn stop_instance(&self, service: &str, instance: &str) -> Result<(), DriverError> {
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
            let drain = self.shared.opts.router_for(service).drain_timeout;
            let deadline = tokio::time::Instant::now() + drain;
            while self.shared.router.in_flight(service, addr) > 0
                || self.shared.router.in_flight(&preview_name(service), addr) > 0
            {
                if tokio::time::Instant::now() > deadline {
                    tracing::warn!(
                        service,
                        instance,
                        ?drain,
                        "requests still in flight after the drain timeout; stopping the instance"
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

    fn measure_on(&self, route: &str, version: &str, window: Duration) -> Measurement {
        let s = self.shared.router.window_stats(route, version, window);
        Measurement {
            requests: s.requests,
            // gRPC calls failed with an error code count with the 5xx, as in error_rate.
            errors_5xx: s.errors_5xx + s.grpc_errors,
            grpc_errors: s.grpc_errors,
            error_rate: s.error_rate,
            p99_ms: s.p99.as_secs_f64() * 1000.0,
            window_ms: u64::try_from(s.window.as_millis()).unwrap_or(u64::MAX),
        }
    }

    async fn shutdown_all(&self) {
        let all: Vec<(String, String)> = self
            .shared
            .lock()
            .iter()
            .flat_map(|(s, svc)| svc.instances.keys().map(move |i| (s.clone(), i.clone())))
            .collect();
        let mut stops = tokio::task::JoinSet::new();
        for (service, instance) in all {
            let me = self.clone();
            stops.spawn(async move { me.stop_instance(&service, &instance).await });
        }
        while stops.join_next().await.is_some() {}
        self.shared.router.shutdown().await;
    }

    /// Binds the router for `service` under `route` (the service itself, or its preview)
    /// once, remembering the bound address in the slot `which` picks.
    fn open_listener(
        &self,
        service: &str,
        route: String,
        listen: SocketAddr,
        which: fn(&mut crate::Service) -> &mut Option<SocketAddr>,
    ) -> Result<SocketAddr, DriverError> {
        if let Some(addr) = self.shared.lock().get_mut(service).and_then(|s| *which(s)) {
            return Ok(addr);
        }
        let settings = self
            .shared
            .lock()
            .get(service)
            .and_then(|s| s.router.clone());
        let settings = settings.unwrap_or_else(|| self.shared.opts.router_for(service));
        let handle = self
            .shared
            .router
            .serve_with(&route, listen, settings)
            .map_err(|e| listen_error(service, listen, e))?;
        let addr = handle.local_addr();
        *which(self.shared.lock().entry(service.to_string()).or_default()) = Some(addr);
        self.shared.push_route(service);
        Ok(addr)
    }
}

impl Driver for LocalDriver {
    fn open(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError> {
        self.open_listener(service, service.to_string(), listen, |slot| {
            &mut slot.listen
        })
    }

    fn configure(&self, service: &str, settings: &gantry_config::Service) {
        let router = crate::settings::router_settings(&settings.router);
        self.shared
            .lock()
            .entry(service.to_string())
            .or_default()
            .router = Some(router);
    }

    fn open_preview(&self, service: &str, listen: SocketAddr) -> Result<SocketAddr, DriverError> {
        self.open_listener(service, preview_name(service), listen, |slot| {
            &mut slot.preview
        })
    }

    fn listen_addr(&self, service: &str) -> Option<SocketAddr> {
        self.shared.lock().get(service).and_then(|s| s.listen)
    }

    fn preview_addr(&self, service: &str) -> Option<SocketAddr> {
        self.shared.lock().get(service).and_then(|s| s.preview)
    }

    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<InstanceStatus, DriverError>> {
        let result = self.launch(spec, None);
        Box::pin(async move { result })
    }

    fn stop<'a>(
        &'a self,
        service: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.stop_instance(service, instance))
    }

    fn set_traffic(&self, service: &str, traffic: &Traffic) {
        self.shared
            .lock()
            .entry(service.to_string())
            .or_default()
            .traffic = traffic.clone();
        self.shared.push_route(service);
    }

    fn traffic(&self, service: &str) -> Traffic {
        self.shared
            .lock()
            .get(service)
            .map(|s| s.traffic.clone())
            .unwrap_or_default()
    }

    fn instances(&self, service: &str) -> Vec<InstanceStatus> {
        self.shared
            .lock()
            .get(service)
            .map(|s| s.instances.values().map(|i| i.status.clone()).collect())
            .unwrap_or_default()
    }

    fn measure(&self, service: &str, version: &str, window: Duration) -> Measurement {
        self.measure_on(service, version, window)
    }

    fn measure_preview(&self, service: &str, version: &str, window: Duration) -> Measurement {
        self.measure_on(&preview_name(service), version, window)
    }

    fn reclaim(
        &self,
        prior: PriorInstance,
        adopt: Option<InstanceSpec>,
    ) -> BoxFuture<'_, Reclaimed> {
        Box::pin(crate::reclaim::reclaim(self, prior, adopt))
    }

    fn request_totals(&self, service: &str) -> Option<gantry_deploy::RequestTotals> {
        self.request_totals_of(service)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.shutdown_all())
    }

    fn cpu_seconds(&self, service: &str, instance: &str) -> Option<f64> {
        let pgid = self
            .shared
            .lock()
            .get(service)?
            .instances
            .get(instance)?
            .status
            .pgid?;
        crate::cpu::group_cpu_seconds(pgid)
    }
}
