//! A service's accept loop: each client connection is served on the accepting runtime, or
//! handed to one of the router's worker threads, until the listener is stopped; then the
//! open connections are drained.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::headers::forwarded_for;
use crate::proxy::{Proxy, handle};
use crate::service::ServiceState;
use crate::workers::Workers;

/// Where accepted connections are served.
pub(crate) enum Dispatch {
    /// On the runtime that runs the accept loop, with the router's shared client.
    Local(Arc<Proxy>),
    /// On the least-loaded worker thread, with that worker's client.
    Workers(Arc<Workers>),
}

fn builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).keep_alive(true);
    builder
}

/// Serves one client connection until it closes (or drains, via `watcher`).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ServiceState>,
    proxy: Arc<Proxy>,
    watcher: Watcher,
) {
    let _ = stream.set_nodelay(true);
    let client_ip = forwarded_for(peer);
    let service = service_fn(move |req| {
        handle(
            Arc::clone(&proxy),
            Arc::clone(&state),
            client_ip.clone(),
            req,
        )
    });
    let conn = builder().serve_connection(TokioIo::new(stream), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    state: Arc<ServiceState>,
    dispatch: Dispatch,
    drain_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::warn!(service = %state.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let (state, watcher) = (Arc::clone(&state), graceful.watcher());
                match &dispatch {
                    Dispatch::Local(proxy) => {
                        tokio::spawn(serve_connection(stream, peer, state, Arc::clone(proxy), watcher));
                    }
                    Dispatch::Workers(workers) => {
                        // Moved off this runtime's reactor; registered again on the worker's.
                        let stream = match stream.into_std() {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::debug!(error = %e, "cannot hand a connection to a worker");
                                continue;
                            }
                        };
                        let (worker, slot) = workers.pick();
                        let proxy = Arc::clone(&worker.proxy);
                        worker.handle.spawn(async move {
                            let _slot = slot;
                            match TcpStream::from_std(stream) {
                                Ok(stream) => serve_connection(stream, peer, state, proxy, watcher).await,
                                Err(e) => tracing::debug!(error = %e, "cannot register a connection on a worker"),
                            }
                        });
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(service = %state.name, timeout = ?drain_timeout, "in-flight requests still running after the drain timeout");
    }
}
