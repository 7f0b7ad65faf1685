//! Keep-alive TCP connections to backends for the fast HTTP/1.1 path, keyed by address:
//! plain sockets, since the fast path writes and parses the protocol itself.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use fnv::FnvHashMap;
use tokio::net::TcpStream;

/// Idle connections kept per backend (as [`crate::pool`]).
const MAX_IDLE_PER_BACKEND: usize = 256;

/// A backend connection and whether it came from the pool (then a failure before any
/// answer may just mean the backend closed it while it sat idle).
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) pooled: bool,
}

struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// Connections of one worker thread (each has its own: a socket is driven by the reactor
/// of the runtime it was registered on).
pub(crate) struct RawPool {
    idle: Arc<Mutex<FnvHashMap<SocketAddr, Vec<Idle>>>>,
    timeout: Duration,
}

/// Whether an idle socket can carry a request: nothing to read on it (a backend that
/// closed it made it readable, with EOF). Tokio clears a socket's readiness after a read
/// that did not fill the buffer, so this usually costs no system call.
fn is_usable(stream: &TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut byte = [0u8; 1];
            matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
    }
}

impl RawPool {
    pub(crate) fn new(timeout: Duration) -> Self {
        RawPool {
            idle: Arc::default(),
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FnvHashMap<SocketAddr, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used idle connection to `addr` that is still open and fresh.
    fn take(&self, addr: SocketAddr) -> Option<TcpStream> {
        let mut idle = self.lock();
        let list = idle.get_mut(&addr)?;
        while let Some(i) = list.pop() {
            if i.since.elapsed() < self.timeout && is_usable(&i.stream) {
                return Some(i.stream);
            }
        }
        None
    }

    /// A pooled connection to `addr`, or a new one.
    pub(crate) async fn get(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
    ) -> Result<Conn, String> {
        if let Some(stream) = self.take(addr) {
            return Ok(Conn {
                stream,
                pooled: true,
            });
        }
        self.connect(addr, connect_timeout).await
    }

    pub(crate) async fn connect(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
    ) -> Result<Conn, String> {
        let stream = crate::pool::dial(addr, connect_timeout).await?;
        Ok(Conn {
            stream,
            pooled: false,
        })
    }

    /// Gives back a connection whose last response was read to its end.
    pub(crate) fn put(&self, addr: SocketAddr, stream: TcpStream) {
        let mut idle = self.lock();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_BACKEND {
            list.push(Idle {
                stream,
                since: Instant::now(),
            });
        }
    }

    /// Closes idle connections past the idle timeout (and those the backend closed)
    /// every half timeout, until the pool is dropped.
    pub(crate) fn sweep_periodically(
        &self,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let timeout = self.timeout;
        crate::pool::sweep_every(&self.idle, timeout, move |idle, now| {
            idle.retain(|_, list| {
                list.retain(|i| now.duration_since(i.since) < timeout && is_usable(&i.stream));
                !list.is_empty()
            });
        })
    }

    /// Idle connections currently kept to `addr`.
    #[cfg(test)]
    pub(crate) fn idle(&self, addr: SocketAddr) -> usize {
        self.lock().get(&addr).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_connection_the_backend_closed_is_not_handed_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = RawPool::new(Duration::from_secs(30));
        let conn = pool.get(addr, Duration::from_secs(1)).await.unwrap();
        assert!(!conn.pooled);
        let (mut server, _) = listener.accept().await.unwrap();
        pool.put(addr, conn.stream);
        let again = pool.get(addr, Duration::from_secs(1)).await.unwrap();
        assert!(again.pooled, "an open idle connection is reused");
        pool.put(addr, again.stream);
        server.write_all(b"").await.unwrap();
        drop(server);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let fresh = pool.get(addr, Duration::from_secs(1)).await.unwrap();
        assert!(!fresh.pooled, "the closed one was dropped");
        let (mut s, _) = listener.accept().await.unwrap();
        let mut fresh = fresh.stream;
        fresh.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
    }

    #[tokio::test]
    async fn idle_connections_are_closed_by_the_timer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pool = RawPool::new(Duration::from_millis(40));
        tokio::spawn(pool.sweep_periodically());
        let conn = pool.get(addr, Duration::from_secs(1)).await.unwrap();
        pool.put(addr, conn.stream);
        assert_eq!(pool.idle(addr), 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.idle(addr) > 0 {
            assert!(Instant::now() < deadline, "never closed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
