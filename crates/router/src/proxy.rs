//! The request path: pick a backend from the current snapshot, forward over the pooled
//! keep-alive client, retry on another backend when that is safe, record measurements.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{PathAndQuery, Scheme};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rand::RngExt;

use crate::body::{ResponseBody, Tracked, UpstreamBody, local};
use crate::config::RouterConfig;
use crate::metrics::{Clock, ServiceCounters};
use crate::service::ServiceState;
use crate::table::InFlight;

const VIA: &str = "1.1 gantry";

/// Shared by every listener of a router: the pooled client and the settings.
pub(crate) struct Proxy {
    client: Client<HttpConnector, UpstreamBody>,
    pub(crate) config: RouterConfig,
    pub(crate) clock: Clock,
}

impl Proxy {
    pub(crate) fn new(config: RouterConfig) -> Self {
        Self::with_clock(config, Clock::new())
    }

    /// A proxy (with its own connection pool) sharing `clock`, so every worker's
    /// measurements use the same time axis.
    pub(crate) fn with_clock(config: RouterConfig, clock: Clock) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .build(connector);
        Proxy {
            client,
            config,
            clock,
        }
    }
}

fn plain(status: StatusCode, text: String) -> Response<ResponseBody> {
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
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), including those named in `Connection`.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// Appends `value` to a comma-separated header, creating it if absent.
fn append_list(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    let joined = match headers.get(&name).and_then(|v| v.to_str().ok()) {
        Some(old) if !old.is_empty() => format!("{old}, {value}"),
        _ => value.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&joined) {
        headers.insert(name, v);
    }
}

/// Reads the request body into memory when it is small enough to replay on a retry.
/// `Ok(None)`: too large or of unknown length, so it is streamed and never retried.
async fn replayable(body: &mut Option<Incoming>, limit: usize) -> Result<Option<Bytes>, String> {
    let Some(b) = body.as_ref() else {
        return Ok(None);
    };
    if b.is_end_stream() {
        return Ok(Some(Bytes::new()));
    }
    match b.size_hint().exact() {
        Some(n) if n <= limit as u64 => {}
        _ => return Ok(None),
    }
    let b = body.take().expect("checked above");
    match Limited::new(b, limit).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e) => Err(format!("cannot read request body: {e}\n")),
    }
}

/// Handles one client request for `svc`.
pub(crate) async fn handle(
    proxy: Arc<Proxy>,
    svc: Arc<ServiceState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let started = Instant::now();
    let mut snapshot = svc.snapshot();
    if snapshot.emergency_stop {
        ServiceCounters::bump(&svc.counters.emergency_rejected);
        let mut resp = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("service {} is stopped\n", svc.name),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(resp);
    }
    if !snapshot.is_routable() {
        ServiceCounters::bump(&svc.counters.no_backend);
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no ready backend for service {}\n", svc.name),
        ));
    }

    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    append_list(
        &mut parts.headers,
        HeaderName::from_static("x-forwarded-for"),
        &peer.ip().to_string(),
    );
    append_list(&mut parts.headers, header::VIA, VIA);
    let path: PathAndQuery = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let idempotent = is_idempotent(&parts.method);

    let mut body = Some(body);
    let replay = match replayable(&mut body, proxy.config.max_replay_body).await {
        Ok(r) => r,
        Err(msg) => return Ok(plain(StatusCode::BAD_REQUEST, msg)),
    };

    let mut tried: Vec<SocketAddr> = Vec::new();
    loop {
        let roll = rand::rng().random::<u64>();
        let Some((version, target)) = snapshot.choose(&tried, roll) else {
            // Every candidate failed (or the table emptied meanwhile).
            ServiceCounters::bump(&svc.counters.no_backend);
            let status = if tried.is_empty() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_GATEWAY
            };
            return Ok(plain(
                status,
                format!("no reachable backend for service {}\n", svc.name),
            ));
        };
        let in_flight = InFlight::start(&target.in_flight);
        let uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(target.authority.clone())
            .path_and_query(path.clone())
            .build()
            .expect("scheme, authority and path are valid");
        let upstream_body = match (&replay, body.take()) {
            (Some(bytes), _) => Either::Left(Full::new(bytes.clone())),
            (None, Some(stream)) => Either::Right(stream),
            (None, None) => unreachable!("a streamed body is never retried"),
        };
        let mut upstream = Request::new(upstream_body);
        *upstream.method_mut() = parts.method.clone();
        *upstream.uri_mut() = uri;
        *upstream.version_mut() = Version::HTTP_11;
        *upstream.headers_mut() = parts.headers.clone();

        let now = proxy.clock.now_sec();
        match forward(&proxy, upstream, in_flight).await {
            Ok(mut resp) => {
                version.metrics.record_response(
                    proxy.clock.now_sec(),
                    resp.status().as_u16(),
                    started.elapsed(),
                );
                strip_hop_by_hop(resp.headers_mut());
                append_list(resp.headers_mut(), header::VIA, VIA);
                return Ok(resp);
            }
            Err(Failure::Timeout) => {
                let status = StatusCode::GATEWAY_TIMEOUT;
                version.metrics.record_upstream_error(now);
                version.metrics.record_response(
                    proxy.clock.now_sec(),
                    status.as_u16(),
                    started.elapsed(),
                );
                let waited: Duration = proxy.config.upstream_timeout;
                return Ok(plain(
                    status,
                    format!(
                        "upstream {} did not answer within {waited:?}\n",
                        target.addr
                    ),
                ));
            }
            Err(Failure::Error { connect, error }) => {
                if connect {
                    version.metrics.record_connect_error(now);
                } else {
                    version.metrics.record_upstream_error(now);
                }
                // Nothing was sent when the connection could not be made: any method may be
                // retried. After that, only idempotent ones.
                let may_retry = replay.is_some() && (connect || idempotent);
                tried.push(target.addr);
                if may_retry && tried.len() < proxy.config.max_attempts {
                    tracing::debug!(service = %svc.name, version = %version.version, backend = %target.addr, %error, "retrying on another backend");
                    snapshot = svc.snapshot();
                    continue;
                }
                let status = StatusCode::BAD_GATEWAY;
                version
                    .metrics
                    .record_response(now, status.as_u16(), started.elapsed());
                tracing::warn!(service = %svc.name, version = %version.version, backend = %target.addr, %error, "upstream failed");
                return Ok(plain(status, format!("upstream {} failed\n", target.addr)));
            }
        }
    }
}

/// Why one forwarding attempt produced no response.
enum Failure {
    /// No response head within the upstream timeout.
    Timeout,
    /// `connect`: the connection could not be made, so nothing was sent.
    Error { connect: bool, error: String },
}

/// Sends one request upstream. Small responses of known length are read whole before they
/// are returned: the client then gets head and body in one write, and a backend failing
/// mid-body can still be retried because nothing reached the client yet. Larger or
/// open-ended responses are streamed.
async fn forward(
    proxy: &Proxy,
    upstream: Request<UpstreamBody>,
    in_flight: InFlight,
) -> Result<Response<ResponseBody>, Failure> {
    let deadline = tokio::time::Instant::now() + proxy.config.upstream_timeout;
    let resp = match tokio::time::timeout_at(deadline, proxy.client.request(upstream)).await {
        Err(_) => return Err(Failure::Timeout),
        Ok(Err(e)) => {
            return Err(Failure::Error {
                connect: e.is_connect(),
                error: format!("{e:?}"),
            });
        }
        Ok(Ok(resp)) => resp,
    };
    let (parts, body) = resp.into_parts();
    let small = body.is_end_stream()
        || body
            .size_hint()
            .exact()
            .is_some_and(|n| n <= proxy.config.max_buffered_response as u64);
    if !small {
        return Ok(Response::from_parts(
            parts,
            Either::Left(Tracked::new(body, in_flight)),
        ));
    }
    match tokio::time::timeout_at(deadline, body.collect()).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(e)) => Err(Failure::Error {
            connect: false,
            error: format!("reading the response body: {e}"),
        }),
        Ok(Ok(collected)) => Ok(Response::from_parts(parts, local(collected.to_bytes()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key(header::ACCEPT));
    }

    #[test]
    fn list_headers_are_appended() {
        let mut h = HeaderMap::new();
        append_list(
            &mut h,
            HeaderName::from_static("x-forwarded-for"),
            "10.0.0.1",
        );
        append_list(
            &mut h,
            HeaderName::from_static("x-forwarded-for"),
            "127.0.0.1",
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    }

    #[test]
    fn idempotent_methods() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }
}
