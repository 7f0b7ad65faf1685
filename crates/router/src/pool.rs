//! Keep-alive HTTP/1.1 connections to backends, keyed by address.
//!
//! Replaces hyper-util's general-purpose pooled client on the request path. Profiling the
//! router under wrk showed that client's per-request machinery (pool keys hashed from
//! scheme + authority, checkout/connect races, absolute-form URIs rewritten to origin-form,
//! and a task spawned per response to wait for the connection to be reusable) as a
//! sizeable share of the router's user-space time; nginx does none of it. Here a request
//! takes an idle connection (or opens one), sends in origin-form, and gives the
//! connection back once the response body has been read to its end.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fnv::FnvHashMap;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::UpstreamBody;
use crate::limits::Slot;

/// Idle connections kept per backend: more than the concurrency a local service sees, and
/// a bound on file descriptors held for one that briefly saw more.
const MAX_IDLE_PER_BACKEND: usize = 256;

/// Why a request got no response from the connection it was given.
pub(crate) struct SendError {
    /// The connection could not be made, so nothing was sent.
    pub(crate) connect: bool,
    pub(crate) error: String,
}

struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

struct Inner {
    /// FNV rather than SipHash: looked up twice per request, and the keys are backend
    /// addresses the control plane chose, not input anyone could craft collisions with.
    idle: FnvHashMap<SocketAddr, Vec<Idle>>,
    last_sweep: Instant,
}

/// Connections of one runtime (each worker thread has its own, so a connection is always
/// driven on the thread that uses it).
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Mutex<Inner>>,
    idle_timeout: Duration,
    max_response_headers: usize,
}

/// A connection lent to one request: [`Lease::release`] it when the response is complete;
/// dropping it instead closes the connection once hyper is done with it.
pub(crate) struct Lease {
    /// The HTTP/1.1 connection to give back; none for an HTTP/2 stream, whose
    /// connection stays shared ([`crate::h2_pool`]).
    conn: Option<(Pool, SocketAddr, SendRequest<UpstreamBody>)>,
    /// The backend's slot ([`crate::limits`]), free again with the lease.
    _slot: Option<Slot>,
}

impl Lease {
    pub(crate) fn release(self) {
        if let Some((pool, addr, sender)) = self.conn {
            pool.put(addr, sender);
        }
    }

    /// A lease of an HTTP/2 stream: only the backend's slot is held.
    pub(crate) fn stream(slot: Option<Slot>) -> Self {
        Lease {
            conn: None,
            _slot: slot,
        }
    }
}

impl Pool {
    pub(crate) fn new(idle_timeout: Duration, max_response_headers: usize) -> Self {
        Pool {
            inner: Arc::new(Mutex::new(Inner {
                idle: FnvHashMap::default(),
                last_sweep: Instant::now(),
            })),
            idle_timeout,
            max_response_headers,
        }
    }

    /// Closes idle connections past the idle timeout (and those the backend closed)
    /// every half timeout, until the pool is dropped: without it a connection to a
    /// backend nobody sends to any more stays open until its process exits.
    pub(crate) fn sweep_periodically(
        &self,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let timeout = self.idle_timeout;
        sweep_every(&self.inner, timeout, move |inner, now| {
            sweep(inner, now, timeout);
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection to `addr` that is still open and fresh.
    fn take(&self, addr: SocketAddr) -> Option<SendRequest<UpstreamBody>> {
        let mut inner = self.lock();
        let list = inner.idle.get_mut(&addr)?;
        while let Some(idle) = list.pop() {
            if !idle.sender.is_closed() && idle.since.elapsed() < self.idle_timeout {
                return Some(idle.sender);
            }
        }
        None
    }

    fn put(&self, addr: SocketAddr, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        if now.duration_since(inner.last_sweep) >= self.idle_timeout {
            sweep(&mut inner, now, self.idle_timeout);
        }
        let list = inner.idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push(Idle { sender, since: now });
        }
    }

    /// Idle connections currently kept to `addr`.
    #[cfg(test)]
    pub(crate) fn idle(&self, addr: SocketAddr) -> usize {
        self.lock().idle.get(&addr).map_or(0, Vec::len)
    }

    async fn connect(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
    ) -> Result<SendRequest<UpstreamBody>, SendError> {
        let failed = |error: String| SendError {
            connect: true,
            error,
        };
        let stream = dial(addr, connect_timeout).await.map_err(failed)?;
        let mut builder = http1::Builder::new();
        if self.max_response_headers != crate::headers::HYPER_MAX_HEADERS {
            builder.max_headers(self.max_response_headers);
        }
        let (sender, conn) = builder
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(format!("handshake: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(backend = %addr, error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    /// Sends `req` (origin-form URI, `Host` set) to `addr` on an idle connection, or a new
    /// one. A pooled connection found closed before the request went out is skipped, so
    /// only a connection that failed with the request on it counts as an upstream error.
    pub(crate) async fn send(
        &self,
        addr: SocketAddr,
        mut req: Request<UpstreamBody>,
        connect_timeout: Duration,
        slot: Option<Slot>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let mut slot = slot;
        loop {
            let (mut sender, pooled) = match self.take(addr) {
                Some(s) => (s, true),
                // Boxed: connecting is rare with keep-alive, and its large future would
                // otherwise be part of (and copied with) every request's future.
                None => (Box::pin(self.connect(addr, connect_timeout)).await?, false),
            };
            // An idle connection becomes ready once hyper has seen the end of the previous
            // response; a closed one errors here and another is tried.
            if sender.ready().await.is_err() && pooled {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let lease = Lease {
                        conn: Some((self.clone(), addr, sender)),
                        _slot: slot.take(),
                    };
                    return Ok((resp, lease));
                }
                Err(mut e) => match e.take_message() {
                    // Not sent: the connection was closed under us. Try another.
                    Some(r) if pooled => req = r,
                    // A new connection closed before anything went out: as good as refused.
                    Some(_) => {
                        return Err(SendError {
                            connect: true,
                            error: format!("{:?}", e.error()),
                        });
                    }
                    None => {
                        return Err(SendError {
                            connect: false,
                            error: format!("{:?}", e.error()),
                        });
                    }
                },
            }
        }
    }
}

/// A new connection to a backend, within `connect_timeout`, for every kind of upstream
/// connection (pooled HTTP/1.1 and HTTP/2, the fast path's sockets, upgrades).
pub(crate) async fn dial(addr: SocketAddr, connect_timeout: Duration) -> Result<TcpStream, String> {
    let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(format!("connect timed out after {connect_timeout:?}")),
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Ok(Ok(s)) => s,
    };
    // Small requests and responses: send each as soon as it is written.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Runs `sweep` on what `shared` holds every half `timeout`, until it is dropped (the
/// idle-connection timer of both pools).
pub(crate) fn sweep_every<T: Send + 'static>(
    shared: &Arc<Mutex<T>>,
    timeout: Duration,
    mut sweep: impl FnMut(&mut T, Instant) + Send + 'static,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let shared = Arc::downgrade(shared);
    let period = (timeout / 2).max(Duration::from_millis(10));
    async move {
        loop {
            tokio::time::sleep(period).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let mut held = shared.lock().unwrap_or_else(|e| e.into_inner());
            sweep(&mut held, Instant::now());
        }
    }
}

/// Drops idle connections that are closed or older than `timeout`, and empty lists.
fn sweep(inner: &mut Inner, now: Instant, timeout: Duration) {
    inner.idle.retain(|_, list| {
        list.retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < timeout);
        !list.is_empty()
    });
    inner.last_sweep = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Either, Full};
    use hyper::server::conn::http1 as server;
    use hyper::service::service_fn;

    /// An upstream answering "ok", closing each connection after one request if asked.
    async fn upstream(close_each: bool) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            bytes::Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = server::Builder::new()
                        .keep_alive(!close_each)
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        addr
    }

    fn get(addr: SocketAddr) -> Request<UpstreamBody> {
        Request::builder()
            .uri("/")
            .header("host", addr.to_string())
            .body(Either::Left(Full::new(bytes::Bytes::new())))
            .unwrap()
    }

    async fn roundtrip(pool: &Pool, addr: SocketAddr) -> String {
        let (resp, lease) = pool
            .send(addr, get(addr), Duration::from_secs(1), None)
            .await
            .ok()
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        lease.release();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn connections_are_reused() {
        let addr = upstream(false).await;
        let pool = Pool::new(Duration::from_secs(30), 100);
        for _ in 0..5 {
            assert_eq!(roundtrip(&pool, addr).await, "ok");
        }
        assert_eq!(pool.idle(addr), 1, "one connection served every request");
    }

    #[tokio::test]
    async fn connections_closed_by_the_backend_are_replaced() {
        let addr = upstream(true).await;
        let pool = Pool::new(Duration::from_secs(30), 100);
        for _ in 0..5 {
            assert_eq!(roundtrip(&pool, addr).await, "ok");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn refused_connections_are_connect_errors() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let pool = Pool::new(Duration::from_secs(30), 100);
        let err = pool
            .send(dead, get(dead), Duration::from_secs(1), None)
            .await
            .err()
            .unwrap();
        assert!(err.connect, "{}", err.error);
    }

    #[tokio::test]
    async fn expired_idle_connections_are_not_reused() {
        let addr = upstream(false).await;
        let pool = Pool::new(Duration::from_millis(20), 100);
        assert_eq!(roundtrip(&pool, addr).await, "ok");
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(pool.take(addr).is_none());
    }

    #[tokio::test]
    async fn idle_connections_are_closed_by_the_timer() {
        let addr = upstream(false).await;
        let pool = Pool::new(Duration::from_millis(40), 100);
        tokio::spawn(pool.sweep_periodically());
        assert_eq!(roundtrip(&pool, addr).await, "ok");
        assert_eq!(pool.idle(addr), 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.idle(addr) > 0 {
            assert!(
                Instant::now() < deadline,
                "the idle connection was never closed"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
