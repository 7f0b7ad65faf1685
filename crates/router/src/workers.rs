//! Optional dedicated data-plane threads ([`crate::RouterConfig::workers`]), nginx-style:
//! each runs a single-threaded tokio runtime with its own pooled upstream client, and every
//! accepted client connection lives on exactly one of them. A request then never crosses
//! threads: no work stealing, no futex wake-ups between a client connection's task and its
//! upstream connection's task, no shared pool lock. Profiling the multi-threaded runtime
//! showed those cross-thread hand-offs, not the proxy logic, as the gap to nginx.
//!
//! One acceptor (on the caller's runtime) hands connections to the least-loaded worker,
//! rather than one SO_REUSEPORT socket per worker: the balance is exact even with few
//! long-lived keep-alive connections, and another process cannot silently share the port.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::config::RouterConfig;
use crate::limits::BackendLimits;
use crate::metrics::Clock;
use crate::proxy::Proxy;

/// One data-plane thread.
pub(crate) struct Worker {
    pub(crate) handle: Handle,
    /// Per runtime, so pooled upstream connections are driven on the thread that uses them.
    pub(crate) proxy: Arc<Proxy>,
    /// Client connections currently served here (for the least-loaded choice).
    connections: Arc<AtomicUsize>,
    /// Dropping it ends the thread's runtime (and whatever still runs on it).
    _stop: oneshot::Sender<()>,
}

/// The data-plane threads of one router; they stop when it is dropped.
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

/// Keeps a connection counted on its worker until dropped.
pub(crate) struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// Starts `count` threads named `gantry-router-N`.
    pub(crate) fn start(
        count: usize,
        config: &RouterConfig,
        clock: Clock,
        limits: Arc<BackendLimits>,
    ) -> std::io::Result<Self> {
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("gantry-router-{i}"))
                .spawn(move || {
                    // Ends when the sender is dropped; in-flight tasks are dropped with the
                    // runtime (the router drains listeners before that in `shutdown`).
                    let _ = runtime.block_on(stopped);
                })?;
            let proxy = Arc::new(Proxy::with_clock(
                config.clone(),
                clock,
                Arc::clone(&limits),
            ));
            handle.spawn(proxy.sweeper());
            workers.push(Worker {
                handle,
                proxy,
                connections: Arc::new(AtomicUsize::new(0)),
                _stop: stop,
            });
        }
        Ok(Workers { workers })
    }

    /// The worker with the fewest open client connections (the first on a tie), with a
    /// slot counting the new connection there.
    pub(crate) fn pick(&self) -> (&Worker, ConnectionSlot) {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.connections.load(Ordering::Relaxed))
            .expect("at least one worker");
        worker.connections.fetch_add(1, Ordering::Relaxed);
        (worker, ConnectionSlot(Arc::clone(&worker.connections)))
    }

    /// Open client connections per worker.
    #[cfg(test)]
    pub(crate) fn loads(&self) -> Vec<usize> {
        self.workers
            .iter()
            .map(|w| w.connections.load(Ordering::Relaxed))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_loaded_worker() {
        let w = Workers::start(3, &RouterConfig::default(), Clock::new(), Arc::default()).unwrap();
        let a = w.pick().1;
        let b = w.pick().1;
        let c = w.pick().1;
        assert_eq!(w.loads(), [1, 1, 1]);
        drop(b);
        assert_eq!(w.loads(), [1, 0, 1]);
        let d = w.pick().1;
        assert_eq!(w.loads(), [1, 1, 1], "the freed worker is chosen");
        drop((a, c, d));
        assert_eq!(w.loads(), [0, 0, 0]);
    }

    #[test]
    fn tasks_run_on_the_worker_threads() {
        let w = Workers::start(2, &RouterConfig::default(), Clock::new(), Arc::default()).unwrap();
        let (worker, _slot) = w.pick();
        let (tx, rx) = std::sync::mpsc::channel();
        worker.handle.spawn(async move {
            let _ = tx.send(std::thread::current().name().map(str::to_string));
        });
        let name = rx.recv().unwrap().unwrap();
        assert!(name.starts_with("gantry-router-"), "{name}");
    }
}
