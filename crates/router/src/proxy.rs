//! The general (hyper) request path: pick a backend from the current snapshot, forward
//! over the pooled keep-alive client, retry on another backend when that is safe, record
//! measurements. It serves HTTP/2, h2c backends, upgrades, streamed uploads and whatever
//! else the fast HTTP/1.1 path ([`crate::h1`]) hands over.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use rand::RngExt;

use crate::answers::{self, Answer, Attempt};
use crate::body::{ResponseBody, Stall, Tracked, UpstreamBody, local};
use crate::client_body::{ClientBody, ClientFault, Progress};
use crate::config::{RouterConfig, ServiceConfig, UpstreamProtocol};
use crate::h1::upstream::RawPool;
use crate::h2_pool::H2Pool;
use crate::headers::{
    Client, VIA, add_forwarding, append_list, sanitize_framing, strip_hop_by_hop,
};
use crate::limits::{BackendLimits, Slot};
use crate::metrics::{Clock, ServiceCounters};
use crate::pool::{Lease, Pool, SendError};
use crate::service::ServiceState;
use crate::table::{InFlight, Target, VersionTargets};
use crate::upgrade;

/// Shared by every listener of a router (or of one worker thread): the connection pool
/// and the settings.
pub(crate) struct Proxy {
    pool: Pool,
    /// Backend sockets of the fast HTTP/1.1 path ([`crate::h1`]).
    pub(crate) raw: RawPool,
    h2: H2Pool,
    limits: Arc<BackendLimits>,
    pub(crate) config: RouterConfig,
    pub(crate) clock: Clock,
}

impl Proxy {
    pub(crate) fn new(config: RouterConfig) -> Self {
        Self::with_clock(config, Clock::new(), Arc::default())
    }

    /// A proxy (with its own connection pool) sharing `clock`, so every worker's
    /// measurements use the same time axis, and the per-backend `limits`.
    pub(crate) fn with_clock(
        config: RouterConfig,
        clock: Clock,
        limits: Arc<BackendLimits>,
    ) -> Self {
        Proxy {
            pool: Pool::new(config.pool_idle_timeout, config.max_response_headers),
            raw: RawPool::new(config.pool_idle_timeout),
            h2: H2Pool::default(),
            limits,
            config,
            clock,
        }
    }

    /// The per-backend connection limits, shared by every worker's proxy.
    pub(crate) fn limits(&self) -> Arc<BackendLimits> {
        Arc::clone(&self.limits)
    }

    /// One of `target`'s connection slots, waiting up to the queue timeout (`None` past it).
    pub(crate) async fn slot(&self, target: &Target, settings: &ServiceConfig) -> Option<Slot> {
        self.limits
            .acquire(
                &target.slots,
                target.addr,
                settings.backend_connections,
                settings.queue_timeout,
            )
            .await
    }

    /// The timer closing idle upstream connections (of both pools), to spawn on the
    /// runtime that uses this proxy.
    pub(crate) fn sweeper(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (pool, raw) = (
            self.pool.sweep_periodically(),
            self.raw.sweep_periodically(),
        );
        async move {
            tokio::join!(pool, raw);
        }
    }
}

pub(crate) fn plain(status: StatusCode, text: String) -> Response<ResponseBody> {
    let mut resp = Response::new(local(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::VIA, HeaderValue::from_static(VIA));
    resp
}

fn is_idempotent(m: &Method) -> bool {
    crate::h1::request::is_idempotent(m.as_str())
}

/// Reads the request body into memory when it is small enough to replay on a retry.
/// `Ok(None)`: too large or of unknown length, so it is streamed and never retried.
async fn replayable(
    body: &mut Option<ClientBody>,
    progress: &Progress,
    limit: usize,
) -> Result<Option<Bytes>, ClientFault> {
    let Some(b) = body.as_ref() else {
        return Ok(Some(Bytes::new()));
    };
    match b.size_hint().exact() {
        Some(n) if n <= limit as u64 => {}
        _ => return Ok(None),
    }
    let b = body.take().expect("checked above");
    match Limited::new(b, limit).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e) => Err(progress
            .fault()
            .cloned()
            .unwrap_or_else(|| ClientFault::Broken(e.to_string()))),
    }
}

/// The router's own answer as a response.
pub(crate) fn answer(a: Answer) -> Response<ResponseBody> {
    let mut resp = plain(a.status, a.text);
    if let Some(secs) = a.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
    }
    if a.close {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Handles one client request for `svc`.
pub(crate) async fn handle(
    proxy: Arc<Proxy>,
    svc: Arc<ServiceState>,
    settings: Arc<ServiceConfig>,
    client: Client,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let started = Instant::now();
    let mut snapshot = svc.snapshot();
    if let Some(refused) = answers::before_routing(&svc, &snapshot) {
        return Ok(answer(refused));
    }

    if upgrade::is_upgrade(req.version(), req.headers()) {
        // Boxed, as the other rare paths below: every request's future is moved a few
        // times on its way into hyper, so its size is paid on each request.
        return Ok(Box::pin(upgrade::proxy(&proxy, &svc, &settings, &client, req)).await);
    }
    if req.version() == Version::HTTP_11 && !req.headers().contains_key(header::HOST) {
        // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host.
        ServiceCounters::bump(&svc.counters.client_errors);
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            "HTTP/1.1 request without a Host header\n".to_string(),
        ));
    }
    let (mut parts, body) = req.into_parts();
    if parts.version == Version::HTTP_2 {
        // HTTP/2 carries the host in `:authority`; HTTP/1.1 backends want it as `Host`.
        crate::h2::authority_as_host(&parts.uri, &mut parts.headers);
    }
    strip_hop_by_hop(&mut parts.headers);
    add_forwarding(&mut parts.headers, &client);
    append_list(
        &mut parts.headers,
        header::VIA,
        HeaderValue::from_static(VIA),
    );
    let path: PathAndQuery = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let idempotent = is_idempotent(&parts.method);

    // Requests without a body (most) skip the wrapper and its timer.
    let (mut body, progress) = if body.is_end_stream() {
        (None, None)
    } else {
        let (b, p) = ClientBody::new(body, settings.client_body_timeout);
        (Some(b), Some(p))
    };
    let h2c = settings.upstream == UpstreamProtocol::H2c;
    let replay = match &progress {
        None => Some(Bytes::new()),
        // Streamed as it comes, so request trailers (gRPC's) reach the backend too.
        Some(_) if h2c => None,
        Some(p) => match Box::pin(replayable(&mut body, p, proxy.config.max_replay_body)).await {
            Ok(r) => r,
            Err(fault) => return Ok(answer(answers::client_fault(&svc, &fault))),
        },
    };
    // A buffered body has been read in full: the response-header timer starts at once.
    let sending = if replay.is_some() {
        None
    } else {
        progress.clone()
    };

    let mut tried: Vec<SocketAddr> = Vec::new();
    loop {
        let roll = rand::rng().random::<u64>();
        let Some((version, target)) = snapshot.choose(&tried, roll) else {
            return Ok(answer(answers::no_reachable_backend(
                &svc,
                !tried.is_empty(),
            )));
        };
        let in_flight = InFlight::start(&target.in_flight);
        let upstream_body = match (&replay, body.take()) {
            (Some(bytes), _) => Either::Left(Full::new(bytes.clone())),
            (None, Some(stream)) => Either::Right(stream),
            (None, None) => unreachable!("a streamed body is never retried"),
        };
        let mut upstream = Request::new(upstream_body);
        *upstream.method_mut() = parts.method.clone();
        // Origin-form, as a server expects from a client (the backend is addressed by the
        // connection, not the URI).
        *upstream.uri_mut() = Uri::from(path.clone());
        *upstream.version_mut() = Version::HTTP_11;
        *upstream.headers_mut() = parts.headers.clone();
        if h2c {
            crate::h2::to_h2c(&mut upstream, &target.host);
        } else if !parts.headers.contains_key(header::HOST) {
            // HTTP/1.0 clients may omit it; HTTP/1.1 backends require it.
            upstream
                .headers_mut()
                .insert(header::HOST, target.host.clone());
        }

        let result = Box::pin(forward(
            &proxy,
            &settings,
            version,
            target,
            upstream,
            sending.as_deref(),
            in_flight,
        ))
        .await;
        if result.is_err()
            && let Some(fault) = progress.as_deref().and_then(Progress::fault)
        {
            return Ok(answer(answers::client_fault(&svc, fault)));
        }
        let attempt = Attempt {
            svc: &svc,
            settings: &settings,
            version,
            target,
            started,
            now: proxy.clock.now_sec(),
        };
        match result {
            Ok(mut resp) => {
                version.metrics.record_response(
                    attempt.now,
                    resp.status().as_u16(),
                    started.elapsed(),
                );
                sanitize_framing(resp.headers_mut());
                strip_hop_by_hop(resp.headers_mut());
                append_list(
                    resp.headers_mut(),
                    header::VIA,
                    HeaderValue::from_static(VIA),
                );
                return Ok(resp);
            }
            Err(Failure::Timeout) => return Ok(answer(attempt.timed_out())),
            Err(Failure::Queue) => return Ok(answer(attempt.queue_full())),
            Err(Failure::Error { connect, error }) => {
                attempt.record_error(connect);
                // Nothing was sent when the connection could not be made: any method may be
                // retried. After that, only idempotent ones.
                let may_retry = replay.is_some() && (connect || idempotent);
                tried.push(target.addr);
                if may_retry && tried.len() < proxy.config.max_attempts {
                    attempt.log_retry(&error);
                    snapshot = svc.snapshot();
                    continue;
                }
                return Ok(answer(attempt.failed(&error)));
            }
        }
    }
}

/// Why one forwarding attempt produced no response.
pub(crate) enum Failure {
    /// No response head within the upstream timeout.
    Timeout,
    /// No connection slot of the backend came free within the queue timeout.
    Queue,
    /// `connect`: the connection could not be made, so nothing was sent.
    Error { connect: bool, error: String },
}

/// Sends one request upstream. Small responses of known length are read whole before they
/// are returned: the client then gets head and body in one write, and a backend failing
/// mid-body can still be retried because nothing reached the client yet. Larger or
/// open-ended responses are streamed.
#[allow(clippy::too_many_arguments)]
async fn forward(
    proxy: &Proxy,
    settings: &ServiceConfig,
    version: &VersionTargets,
    target: &Target,
    upstream: Request<UpstreamBody>,
    sending: Option<&Progress>,
    in_flight: InFlight,
) -> Result<Response<ResponseBody>, Failure> {
    // Waiting for a slot is not the upstream's answer time: its timer starts after.
    let Some(slot) = proxy.slot(target, settings).await else {
        return Err(Failure::Queue);
    };
    // One timer for the head and a buffered body together: arming a timer per step showed
    // in profiles, and the limit is on the whole exchange anyway.
    let h2c = settings.upstream == UpstreamProtocol::H2c;
    let exchange = async {
        let sent = if h2c {
            proxy
                .h2
                .send(target.addr, upstream, settings.connect_timeout)
                .await
                .map(|resp| (resp, Lease::stream(Some(slot))))
        } else {
            proxy
                .pool
                .send(target.addr, upstream, settings.connect_timeout, Some(slot))
                .await
        };
        let (resp, lease) = match sent {
            Err(SendError { connect, error }) => return Err(Failure::Error { connect, error }),
            Ok(sent) => sent,
        };
        let (parts, body) = resp.into_parts();
        let grpc = crate::grpc::is_grpc(&parts.headers);
        if grpc
            && let Some(code) = crate::grpc::status(&parts.headers)
            && settings.grpc_error_codes.contains(code)
        {
            // A trailers-only answer: the call failed before any message.
            version.metrics.record_grpc_error(proxy.clock.now_sec());
        }
        // Over HTTP/2 a body may end in trailers, which a buffered body would lose.
        let small = body.is_end_stream()
            || (!h2c
                && body
                    .size_hint()
                    .exact()
                    .is_some_and(|n| n <= proxy.config.max_buffered_response as u64));
        if !small {
            let stall = Stall {
                idle: settings.upstream_body_timeout,
                metrics: Arc::clone(&version.metrics),
                clock: proxy.clock,
            };
            let mut tracked = Tracked::new(body, lease, in_flight, stall);
            if grpc {
                tracked = tracked.watch_grpc(settings.grpc_error_codes);
            }
            return Ok(Response::from_parts(parts, Either::Left(tracked)));
        }
        match body.collect().await {
            Err(e) => Err(Failure::Error {
                connect: false,
                error: format!("reading the response body: {e}"),
            }),
            Ok(collected) => {
                lease.release();
                Ok(Response::from_parts(parts, local(collected.to_bytes())))
            }
        }
    };
    let Some(sending) = sending else {
        return tokio::time::timeout(settings.response_header_timeout, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout));
    };
    // A streamed upload may take long; the upstream's time starts when it has all of it.
    let deadline = async {
        sending.sent().await;
        tokio::time::sleep(settings.response_header_timeout).await;
    };
    tokio::select! {
        biased;
        answered = exchange => answered,
        () = deadline => Err(Failure::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotent_methods() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }
}
