//! Body types on both sides of the proxy.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::client_body::ClientBody;
use crate::grpc::GrpcCodes;
use crate::metrics::{Clock, VersionMetrics};
use crate::pool::Lease;
use crate::table::InFlight;

/// What is sent upstream: a buffered (replayable) body or the client's stream.
pub(crate) type UpstreamBody = Either<Full<Bytes>, ClientBody>;

/// What the client gets: the upstream's body, or a short body made by the router.
pub(crate) type ResponseBody = Either<Tracked, Full<Bytes>>;

/// Why a streamed response was cut off.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamError {
    #[error("upstream sent nothing for {0:?}")]
    Idle(Duration),
    #[error(transparent)]
    Upstream(hyper::Error),
}

/// Who to tell when a streamed response stalls: the version it came from.
pub(crate) struct Stall {
    pub(crate) idle: Duration,
    pub(crate) metrics: Arc<VersionMetrics>,
    pub(crate) clock: Clock,
}

/// The upstream response body, keeping its backend counted as in flight until the body is
/// done or dropped, so draining waits for streaming responses too. Its connection goes
/// back to the pool when the body has been read to its end (dropped early, it is closed).
/// A pause between frames longer than the upstream body timeout cuts it off, counted as
/// the version's upstream error.
pub(crate) struct Tracked {
    inner: Incoming,
    lease: Option<Lease>,
    stall: Stall,
    timer: Option<Pin<Box<Sleep>>>,
    /// A gRPC call's error codes, until its trailers tell its status.
    grpc: Option<GrpcCodes>,
    _in_flight: InFlight,
}

impl Tracked {
    pub(crate) fn new(inner: Incoming, lease: Lease, in_flight: InFlight, stall: Stall) -> Self {
        Tracked {
            inner,
            lease: Some(lease),
            stall,
            timer: None,
            grpc: None,
            _in_flight: in_flight,
        }
    }

    /// Counts the call as the version's error if its trailers carry one of `codes`.
    pub(crate) fn watch_grpc(mut self, codes: GrpcCodes) -> Self {
        self.grpc = Some(codes);
        self
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
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
        match polled {
            Poll::Pending => {
                let idle = this.stall.idle;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if timer.as_mut().poll(cx).is_ready() {
                    let now = this.stall.clock.now_sec();
                    this.stall.metrics.record_upstream_error(now);
                    return Poll::Ready(Some(Err(StreamError::Idle(idle))));
                }
                Poll::Pending
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(timer) = this.timer.as_mut() {
                    timer.as_mut().reset(Instant::now() + this.stall.idle);
                }
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(codes) = this.grpc.take()
                    && crate::grpc::status(trailers).is_some_and(|c| codes.contains(c))
                {
                    let now = this.stall.clock.now_sec();
                    this.stall.metrics.record_grpc_error(now);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(StreamError::Upstream(e)))),
            Poll::Ready(None) => Poll::Ready(None),
        }
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
