//! Timeouts of a client connection between requests: how long it may sit idle between
//! keep-alive requests, and how long a request's headers may take from their first byte.
//! hyper's own header timer also runs while a keep-alive connection waits, so it cannot
//! tell the two apart; here reads are counted on the socket and requests in progress on
//! the service, and a periodic check closes the connection when either limit passes.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::config::ServiceConfig;

/// What one connection has been doing, updated by its socket and its requests.
#[derive(Default)]
pub(crate) struct Activity {
    reads: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    /// Counts a request as in progress until the guard (kept with its response body) drops.
    pub(crate) fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(Arc::clone(self))
    }
}

pub(crate) struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a connection is closed between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    KeepAlive,
    Header,
}

/// The pure part of the check: fed the connection's state at each tick.
#[derive(Debug)]
pub(crate) struct IdleClock {
    idle_since: Option<Instant>,
    reads_when_idle: u64,
    head_since: Option<Instant>,
}

impl IdleClock {
    /// A new connection is idle (waiting for its first request) from `now`.
    pub(crate) fn new(now: Instant) -> Self {
        IdleClock {
            idle_since: Some(now),
            reads_when_idle: 0,
            head_since: None,
        }
    }

    pub(crate) fn tick(
        &mut self,
        now: Instant,
        busy: bool,
        reads: u64,
        keepalive: Duration,
        header: Duration,
    ) -> Option<Expired> {
        if busy {
            self.idle_since = None;
            self.head_since = None;
            return None;
        }
        let Some(idle_since) = self.idle_since else {
            self.idle_since = Some(now);
            self.reads_when_idle = reads;
            return None;
        };
        if reads != self.reads_when_idle {
            // Bytes of the next request arrived, but not yet a whole head.
            let since = *self.head_since.get_or_insert(now);
            return (now.duration_since(since) >= header).then_some(Expired::Header);
        }
        (now.duration_since(idle_since) >= keepalive).then_some(Expired::KeepAlive)
    }
}

/// How often a connection is checked: fine enough for the shorter limit, at most once
/// a second so thousands of idle connections cost little.
pub(crate) fn tick_period(s: &ServiceConfig) -> Duration {
    (s.keepalive_timeout.min(s.client_header_timeout) / 8)
        .clamp(Duration::from_millis(5), Duration::from_secs(1))
}

/// The client socket, counting reads that returned data.
pub(crate) struct CountingIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> CountingIo<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        CountingIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

/// The `AsyncWrite` methods of a wrapper that only changes reading: each goes straight
/// to its `inner` field.
macro_rules! write_through_inner {
    () => {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
        }

        fn poll_write_vectored(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            bufs: &[std::io::IoSlice<'_>],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }
    };
}
pub(crate) use write_through_inner;

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    write_through_inner!();
}

impl Activity {
    pub(crate) fn check(
        &self,
        clock: &mut IdleClock,
        now: Instant,
        s: &ServiceConfig,
    ) -> Option<Expired> {
        clock.tick(
            now,
            self.busy.load(Ordering::Acquire) > 0,
            self.reads.load(Ordering::Relaxed),
            s.keepalive_timeout,
            s.client_header_timeout,
        )
    }
}

/// A response body keeping its request counted as in progress until it is sent or dropped.
pub(crate) struct Guarded<B> {
    inner: B,
    _busy: BusyGuard,
}

impl<B> Guarded<B> {
    pub(crate) fn new(inner: B, busy: BusyGuard) -> Self {
        Guarded { inner, _busy: busy }
    }
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KA: Duration = Duration::from_secs(75);
    const HEAD: Duration = Duration::from_secs(60);

    #[test]
    fn an_idle_connection_expires_after_the_keepalive_timeout() {
        let t0 = Instant::now();
        let mut c = IdleClock::new(t0);
        assert_eq!(
            c.tick(t0 + Duration::from_secs(74), false, 0, KA, HEAD),
            None
        );
        assert_eq!(
            c.tick(t0 + KA, false, 0, KA, HEAD),
            Some(Expired::KeepAlive)
        );
    }

    #[test]
    fn a_started_head_gets_the_header_timeout_from_its_first_byte() {
        let t0 = Instant::now();
        let mut c = IdleClock::new(t0);
        let first = t0 + Duration::from_secs(70);
        assert_eq!(c.tick(first, false, 1, KA, HEAD), None);
        // Past the keep-alive limit, but a request is on its way: the header limit counts.
        assert_eq!(
            c.tick(first + Duration::from_secs(59), false, 2, KA, HEAD),
            None
        );
        assert_eq!(
            c.tick(first + HEAD, false, 2, KA, HEAD),
            Some(Expired::Header)
        );
    }

    #[test]
    fn a_busy_connection_never_expires_and_idles_afresh_after() {
        let t0 = Instant::now();
        let mut c = IdleClock::new(t0);
        assert_eq!(
            c.tick(t0 + Duration::from_secs(500), true, 5, KA, HEAD),
            None
        );
        let done = t0 + Duration::from_secs(501);
        assert_eq!(c.tick(done, false, 5, KA, HEAD), None);
        assert_eq!(
            c.tick(done + Duration::from_secs(74), false, 5, KA, HEAD),
            None
        );
        assert_eq!(
            c.tick(done + KA, false, 5, KA, HEAD),
            Some(Expired::KeepAlive)
        );
    }
}
