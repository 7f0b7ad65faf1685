//! One request on the fast path: its body read, a backend chosen (and others on a retry),
//! the request written and the response passed back, with the hyper path's timeouts,
//! retries and measurements ([`crate::proxy::handle`] is the reference).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use rand::RngExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::answers::{self, Answer, Attempt};
use crate::client_body::ClientFault;
use crate::config::ServiceConfig;
use crate::limits::Slot;
use crate::proxy::{Failure, Proxy};
use crate::service::ServiceState;
use crate::table::{InFlight, Target};

use super::chunked::{self, Chunked};
use super::request::{RequestHead, Shape};
use super::response::{self, Framing, ResponseHead};

/// A response head larger than this is refused (hyper's client reads about as much).
const MAX_RESPONSE_HEAD: usize = 256 * 1024;

/// What the client connection does after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    KeepAlive,
    Close,
}

/// What a listener's connections share.
pub(crate) struct Ctx {
    pub(crate) proxy: Arc<Proxy>,
    pub(crate) svc: Arc<ServiceState>,
    pub(crate) settings: Arc<ServiceConfig>,
}

/// The router's own answer, as bytes for the client.
pub(crate) fn answer_bytes(a: &Answer, head_request: bool, close: bool) -> Vec<u8> {
    let status = a.status;
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nvia: {}\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        a.text.len(),
        crate::headers::VIA,
    );
    if let Some(secs) = a.retry_after {
        out.push_str(&format!("retry-after: {secs}\r\n"));
    }
    if close || a.close {
        out.push_str("connection: close\r\n");
    }
    out.push_str("\r\n");
    if !head_request {
        out.push_str(&a.text);
    }
    out.into_bytes()
}

async fn send_answer<S: AsyncWrite + Unpin>(
    io: &mut S,
    a: &Answer,
    shape: Shape,
    close: bool,
) -> Next {
    let close = close || a.close || shape.close;
    let ok = io
        .write_all(&answer_bytes(a, shape.head, close))
        .await
        .is_ok();
    if ok && !close {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// Reads until `buf` holds `need` bytes, with `idle` as the longest pause between reads.
async fn read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    need: usize,
    idle: Duration,
) -> Result<(), ClientFault> {
    while buf.len() < need {
        buf.reserve(need - buf.len());
        match tokio::time::timeout(idle, io.read_buf(buf)).await {
            Err(_) => return Err(ClientFault::Timeout(idle)),
            Ok(Ok(0)) => {
                return Err(ClientFault::Broken(
                    "the client closed the connection before the whole body".into(),
                ));
            }
            Ok(Err(e)) => return Err(ClientFault::Broken(e.to_string())),
            Ok(Ok(_)) => {}
        }
    }
    Ok(())
}

/// Forwards the request whose head is at the start of `buf` and answers the client.
pub(crate) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    head: RequestHead,
    ctx: &Ctx,
) -> Next {
    let started = Instant::now();
    let (proxy, svc, settings) = (&*ctx.proxy, &*ctx.svc, &*ctx.settings);
    let mut snapshot = svc.snapshot();
    let whole = head.len + head.body;
    let shape = head.shape;
    if let Some(refused) = answers::before_routing(svc, &snapshot) {
        // The body is skipped when it is here; otherwise the connection cannot go on.
        let complete = buf.len() >= whole;
        if complete {
            buf.advance(whole);
        }
        return send_answer(io, &refused, shape, !complete).await;
    }
    if let Err(fault) = read_body(io, buf, whole, settings.client_body_timeout).await {
        return send_answer(io, &answers::client_fault(svc, &fault), shape, true).await;
    }
    buf.advance(head.len);
    let mut request = head.upstream;
    request.extend_from_slice(&buf[..head.body]);
    buf.advance(head.body);

    let mut tried = Vec::new();
    loop {
        let roll = rand::rng().random::<u64>();
        let Some((version, target)) = snapshot.choose(&tried, roll) else {
            let answer = answers::no_reachable_backend(svc, !tried.is_empty());
            return send_answer(io, &answer, shape, false).await;
        };
        let in_flight = InFlight::start(&target.in_flight);
        let slot = proxy.slot(target, settings).await;
        let result = match &slot {
            None => Err(Failure::Queue),
            Some(_) => tokio::time::timeout(
                settings.response_header_timeout,
                fetch(proxy, settings, target, &request, shape),
            )
            .await
            .unwrap_or(Err(Failure::Timeout)),
        };
        let attempt = Attempt {
            svc,
            settings,
            version,
            target,
            started,
            now: proxy.clock.now_sec(),
        };
        let failure = match result {
            Ok(fetched) => {
                version.metrics.record_response(
                    attempt.now,
                    fetched.head.status,
                    started.elapsed(),
                );
                let held = (slot, in_flight);
                return pass_on(io, fetched, proxy, &attempt, shape, held).await;
            }
            Err(f) => f,
        };
        let answer = match failure {
            Failure::Timeout => attempt.timed_out(),
            Failure::Queue => attempt.queue_full(),
            Failure::Error { connect, error } => {
                attempt.record_error(connect);
                tried.push(target.addr);
                if (connect || shape.idempotent) && tried.len() < proxy.config.max_attempts {
                    attempt.log_retry(&error);
                    snapshot = svc.snapshot();
                    continue;
                }
                attempt.failed(&error)
            }
        };
        return send_answer(io, &answer, shape, false).await;
    }
}

/// A response head from a backend, with what was read of the body.
struct Fetched {
    stream: TcpStream,
    head: ResponseHead,
    /// The bytes after the head (for a buffered body: all of it).
    rest: BytesMut,
    /// The body's length when all of it is in `rest`.
    buffered: Option<usize>,
}

/// Writes the response to the client: a buffered one at once (its backend connection back
/// in the pool first), a streamed one as it arrives, with the upstream body timeout
/// between reads. `held` (the backend's slot and in-flight count) is let go at the end.
async fn pass_on<S: AsyncWrite + Unpin>(
    io: &mut S,
    fetched: Fetched,
    proxy: &Proxy,
    attempt: &Attempt<'_>,
    shape: Shape,
    held: (Option<Slot>, InFlight),
) -> Next {
    let Fetched {
        mut stream,
        head,
        mut rest,
        buffered,
    } = fetched;
    let addr = attempt.target.addr;
    let after = if shape.close {
        Next::Close
    } else {
        Next::KeepAlive
    };
    let mut out = head.client;
    if let Some(n) = buffered {
        out.extend_from_slice(&rest[..n]);
        if head.reusable && rest.len() == n {
            proxy.raw.put(addr, stream);
        }
        drop(held);
        return match io.write_all(&out).await {
            Ok(()) => after,
            Err(_) => Next::Close,
        };
    }
    let mut chunks = Chunked::default();
    let mut left = match head.framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    loop {
        let ended = match head.framing {
            Framing::Length(_) => {
                let take = left.min(rest.len() as u64) as usize;
                out.extend_from_slice(&rest[..take]);
                rest.advance(take);
                left -= take as u64;
                left == 0
            }
            Framing::Chunked => match chunks.feed(&rest) {
                Ok(n) => {
                    out.extend_from_slice(&rest[..n]);
                    rest.advance(n);
                    chunks.is_done()
                }
                Err(e) => {
                    tracing::debug!(backend = %addr, error = e, "malformed chunked response body");
                    return Next::Close;
                }
            },
            Framing::Close | Framing::Empty => {
                chunked::encode(&rest, &mut out);
                rest.clear();
                false
            }
        };
        if !out.is_empty() {
            if io.write_all(&out).await.is_err() {
                return Next::Close;
            }
            out.clear();
        }
        if ended {
            break;
        }
        rest.reserve(16 * 1024);
        let idle = attempt.settings.upstream_body_timeout;
        match tokio::time::timeout(idle, stream.read_buf(&mut rest)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) if head.framing == Framing::Close => {
                return match io.write_all(chunked::END).await {
                    Ok(()) => after,
                    Err(_) => Next::Close,
                };
            }
            Ok(_) => {
                tracing::debug!(backend = %addr, "the backend ended its response early");
                return Next::Close;
            }
            Err(_) => {
                // The version stalled: its error, as on the hyper path.
                let now = proxy.clock.now_sec();
                attempt.version.metrics.record_upstream_error(now);
                tracing::debug!(backend = %addr, ?idle, "response body stalled");
                return Next::Close;
            }
        }
    }
    if head.reusable && rest.is_empty() {
        proxy.raw.put(addr, stream);
    }
    after
}

/// Why no response head came from a connection.
enum HeadError {
    /// A pooled connection ended before any byte of an answer: the backend had closed
    /// it while it sat idle (a retry on a new connection is safe for idempotent requests).
    Stale,
    Failed(String),
}

/// Reads a response head (skipping interim 1xx ones) from `stream`.
async fn read_head(
    stream: &mut TcpStream,
    max_headers: usize,
    shape: Shape,
) -> Result<(ResponseHead, BytesMut), HeadError> {
    let mut rest = BytesMut::with_capacity(8 * 1024);
    let mut answered = false;
    loop {
        if !rest.is_empty() {
            answered = true;
            match response::parse(&rest, max_headers, shape.head, shape.close) {
                Err(e) => return Err(HeadError::Failed(e)),
                Ok(response::Parsed::Interim(n)) => {
                    rest.advance(n);
                    continue;
                }
                Ok(response::Parsed::Complete(head)) => {
                    rest.advance(head.len);
                    return Ok((head, rest));
                }
                Ok(response::Parsed::Partial) if rest.len() > MAX_RESPONSE_HEAD => {
                    return Err(HeadError::Failed("response head too large".into()));
                }
                Ok(response::Parsed::Partial) => {}
            }
        }
        rest.reserve(4 * 1024);
        match stream.read_buf(&mut rest).await {
            Ok(n) if n > 0 => {}
            Ok(_) if !answered => return Err(HeadError::Stale),
            Ok(_) => {
                return Err(HeadError::Failed(
                    "the backend closed the connection mid-head".into(),
                ));
            }
            Err(_) if !answered => return Err(HeadError::Stale),
            Err(e) => return Err(HeadError::Failed(format!("reading the response head: {e}"))),
        }
    }
}

/// Sends `request` to `target` and reads the response head (and a small body whole, so a
/// backend failing mid-body can still be retried). A pooled connection the backend closed
/// while it sat idle is replaced by a new one rather than counted as the version's error.
async fn fetch(
    proxy: &Proxy,
    settings: &ServiceConfig,
    target: &Target,
    request: &[u8],
    shape: Shape,
) -> Result<Fetched, Failure> {
    let error = |connect: bool, error: String| Failure::Error { connect, error };
    let mut fresh = false;
    let (mut stream, head, mut rest) = loop {
        let conn = if fresh {
            proxy
                .raw
                .connect(target.addr, settings.connect_timeout)
                .await
        } else {
            proxy.raw.get(target.addr, settings.connect_timeout).await
        };
        let conn = conn.map_err(|e| error(true, e))?;
        let (mut stream, pooled) = (conn.stream, conn.pooled);
        if let Err(e) = stream.write_all(request).await {
            if pooled {
                fresh = true;
                continue;
            }
            return Err(error(false, format!("sending the request: {e}")));
        }
        match read_head(&mut stream, proxy.config.max_response_headers, shape).await {
            Ok((head, rest)) => break (stream, head, rest),
            Err(HeadError::Stale) if pooled && shape.idempotent => fresh = true,
            Err(HeadError::Stale) => {
                let why = "the backend closed the connection without answering";
                return Err(error(false, why.into()));
            }
            Err(HeadError::Failed(e)) => return Err(error(false, e)),
        }
    };
    let small = match head.framing {
        Framing::Empty => Some(0),
        Framing::Length(n) if n <= proxy.config.max_buffered_response as u64 => Some(n as usize),
        _ => None,
    };
    if let Some(n) = small {
        while rest.len() < n {
            rest.reserve(n - rest.len());
            match stream.read_buf(&mut rest).await {
                Ok(read) if read > 0 => {}
                Ok(_) => {
                    let why = "reading the response body: the backend closed the connection";
                    return Err(error(false, why.into()));
                }
                Err(e) => return Err(error(false, format!("reading the response body: {e}"))),
            }
        }
    }
    Ok(Fetched {
        stream,
        head,
        rest,
        buffered: small,
    })
}
