//! Body types on both sides of the proxy.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::pool::Lease;
use crate::table::InFlight;

/// What is sent upstream: a buffered (replayable) body or the client's stream.
pub(crate) type UpstreamBody = Either<Full<Bytes>, Incoming>;

/// What the client gets: the upstream's body, or a short body made by the router.
pub(crate) type ResponseBody = Either<Tracked, Full<Bytes>>;

/// The upstream response body, keeping its backend counted as in flight until the body is
/// done or dropped, so draining waits for streaming responses too. Its connection goes
/// back to the pool when the body has been read to its end (dropped early, it is closed).
pub(crate) struct Tracked {
    inner: Incoming,
    lease: Option<Lease>,
    _in_flight: InFlight,
}

impl Tracked {
    pub(crate) fn new(inner: Incoming, lease: Lease, in_flight: InFlight) -> Self {
        Tracked {
            inner,
            lease: Some(lease),
            _in_flight: in_flight,
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let done = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            _ => false,
        };
        if done && let Some(lease) = this.lease.take() {
            lease.release();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A short plain-text body made by the router itself.
pub(crate) fn local(text: impl Into<Bytes>) -> ResponseBody {
    Either::Right(Full::new(text.into()))
}
