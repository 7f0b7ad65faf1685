//! The client's request body on its way upstream: an idle timer between reads, and a
//! record of how it ended, so that a failed exchange can be put down to the client (slow,
//! aborted, malformed) rather than to the version that was sent the request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// What went wrong on the client's side of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientFault {
    /// No body bytes for longer than the client body timeout: 408.
    Timeout(Duration),
    /// The body could not be read: the client went away mid-upload or sent a malformed
    /// chunk. 400 (if anyone is left to read it).
    Broken(String),
}

impl ClientFault {
    pub(crate) fn status(&self) -> hyper::StatusCode {
        match self {
            ClientFault::Timeout(_) => hyper::StatusCode::REQUEST_TIMEOUT,
            ClientFault::Broken(_) => hyper::StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn message(&self) -> String {
        match self {
            ClientFault::Timeout(d) => {
                format!("request body: nothing received for {d:?}\n")
            }
            ClientFault::Broken(e) => format!("request body could not be read: {e}\n"),
        }
    }
}

/// The error the wrapped body yields; the details are in [`Progress::fault`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ClientBodyError(String);

/// Shared between the body (owned by the upstream connection) and the request handler.
#[derive(Default)]
pub(crate) struct Progress {
    fault: OnceLock<ClientFault>,
    sent: AtomicBool,
    notify: Notify,
}

impl Progress {
    pub(crate) fn fault(&self) -> Option<&ClientFault> {
        self.fault.get()
    }

    fn mark_sent(&self) {
        self.sent.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Resolves once the whole body has been read from the client (the upstream's
    /// response-header timer starts then, so a long upload is not the upstream's delay).
    pub(crate) async fn sent(&self) {
        loop {
            let notified = self.notify.notified();
            if self.sent.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// `Incoming` with an idle timeout between frames, reporting how it ended to [`Progress`].
pub(crate) struct ClientBody {
    inner: Incoming,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    progress: Arc<Progress>,
}

impl ClientBody {
    pub(crate) fn new(inner: Incoming, idle: Duration) -> (Self, Arc<Progress>) {
        let progress = Arc::new(Progress::default());
        if inner.is_end_stream() {
            progress.mark_sent();
        }
        let body = ClientBody {
            inner,
            idle,
            timer: None,
            progress: Arc::clone(&progress),
        };
        (body, progress)
    }

    fn fail(&self, fault: ClientFault) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let text = fault.message();
        let _ = self.progress.fault.set(fault);
        Poll::Ready(Some(Err(ClientBodyError(text.trim_end().to_string()))))
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(timer) = this.timer.as_mut() {
                    timer.as_mut().reset(Instant::now() + this.idle);
                }
                if this.inner.is_end_stream() {
                    this.progress.mark_sent();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => this.fail(ClientFault::Broken(e.to_string())),
            Poll::Ready(None) => {
                this.progress.mark_sent();
                Poll::Ready(None)
            }
            Poll::Pending => {
                let idle = this.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    return this.fail(ClientFault::Timeout(idle));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
