//! HTTP/1.1 `Upgrade` (WebSocket and other protocols): the handshake is forwarded on a
//! connection of its own, and once the backend answers 101 the two upgraded connections
//! are joined and bytes copied both ways until either side closes. The tunnel counts as
//! in flight on its backend, so a switch drains it like a request.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use rand::RngExt;

use crate::body::{ResponseBody, UpstreamBody, local};
use crate::config::ServiceConfig;
use crate::headers::{Client, VIA, add_forwarding, append_list, strip_hop_by_hop};
use crate::metrics::ServiceCounters;
use crate::proxy::{Proxy, plain};
use crate::service::ServiceState;
use crate::table::{InFlight, Target};

/// An error answer from the backend to a handshake is read whole up to this size.
const MAX_REFUSAL_BODY: usize = 64 * 1024;

/// Whether `headers` ask to switch protocols (`Connection: upgrade` and an `Upgrade`).
pub(crate) fn is_upgrade(version: Version, headers: &HeaderMap) -> bool {
    version == Version::HTTP_11
        && headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// What a handshake attempt on one backend gave.
enum Attempt {
    Answered(Response<Incoming>),
    /// No connection: another backend may be tried.
    Unreachable(String),
    Failed(String),
    TimedOut,
}

async fn attempt(target: SocketAddr, req: Request<UpstreamBody>, s: &ServiceConfig) -> Attempt {
    let stream = match crate::pool::dial(target, s.connect_timeout).await {
        Err(e) => return Attempt::Unreachable(e),
        Ok(stream) => stream,
    };
    let (mut sender, conn) = match http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => return Attempt::Unreachable(format!("handshake: {e}")),
    };
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(backend = %target, error = %e, "upgrade connection ended with an error");
        }
    });
    match tokio::time::timeout(s.response_header_timeout, sender.send_request(req)).await {
        Err(_) => Attempt::TimedOut,
        Ok(Err(e)) => Attempt::Failed(e.to_string()),
        Ok(Ok(resp)) => Attempt::Answered(resp),
    }
}

fn handshake_request(
    parts: &hyper::http::request::Parts,
    headers: &HeaderMap,
    target: &Target,
) -> Request<UpstreamBody> {
    let mut req = Request::new(Either::Left(Full::new(Bytes::new())));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts
        .uri
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()));
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers.clone();
    if !headers.contains_key(header::HOST) {
        req.headers_mut().insert(header::HOST, target.host.clone());
    }
    req
}

/// Proxies one upgrade request of `svc`.
pub(crate) async fn proxy(
    proxy: &Proxy,
    svc: &ServiceState,
    settings: &ServiceConfig,
    client: &Client,
    mut req: Request<Incoming>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let client_side = hyper::upgrade::on(&mut req);
    let (parts, _body) = req.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    if let Some(p) = protocol {
        headers.insert(header::UPGRADE, p);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    add_forwarding(&mut headers, client);
    append_list(&mut headers, header::VIA, HeaderValue::from_static(VIA));

    let snapshot = svc.snapshot();
    let mut tried = Vec::new();
    loop {
        let roll = rand::rng().random::<u64>();
        let Some((version, target)) = snapshot.choose(&tried, roll) else {
            ServiceCounters::bump(&svc.counters.no_backend);
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("no reachable backend for service {}\n", svc.name),
            );
        };
        let in_flight = InFlight::start(&target.in_flight);
        let answer = attempt(
            target.addr,
            handshake_request(&parts, &headers, target),
            settings,
        )
        .await;
        let now = proxy.clock.now_sec();
        let failed = |status: StatusCode, what: &str| {
            version.metrics.record_upstream_error(now);
            version
                .metrics
                .record_response(now, status.as_u16(), started.elapsed());
            tracing::warn!(service = %svc.name, version = %version.version, backend = %target.addr, what, "upgrade failed");
            plain(
                status,
                format!(
                    "version {} of service {} {what}\n",
                    version.version, svc.name
                ),
            )
        };
        let mut resp = match answer {
            Attempt::Unreachable(error) => {
                version.metrics.record_connect_error(now);
                tracing::debug!(service = %svc.name, backend = %target.addr, %error, "upgrade: trying another backend");
                tried.push(target.addr);
                if tried.len() < proxy.config.max_attempts {
                    continue;
                }
                return failed(StatusCode::BAD_GATEWAY, "could not be reached");
            }
            Attempt::Failed(error) => {
                tracing::debug!(service = %svc.name, backend = %target.addr, %error, "upgrade handshake failed");
                return failed(StatusCode::BAD_GATEWAY, "failed to answer");
            }
            Attempt::TimedOut => {
                return failed(StatusCode::GATEWAY_TIMEOUT, "did not answer in time");
            }
            Attempt::Answered(resp) => resp,
        };
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            // Refused (e.g. 400 or 426): an ordinary answer, measured as one.
            version
                .metrics
                .record_response(now, resp.status().as_u16(), started.elapsed());
            let (mut head, body) = resp.into_parts();
            strip_hop_by_hop(&mut head.headers);
            head.headers.remove(header::CONTENT_LENGTH);
            let bytes = match Limited::new(body, MAX_REFUSAL_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::new(),
            };
            return Response::from_parts(head, local(bytes));
        }
        let upstream_side = hyper::upgrade::on(&mut resp);
        let open = version.metrics.record_upgrade(now);
        let (service, backend) = (svc.name.clone(), target.addr);
        tokio::spawn(async move {
            let _held = (in_flight, open);
            let (client, upstream) = match tokio::join!(client_side, upstream_side) {
                (Ok(c), Ok(u)) => (c, u),
                (c, u) => {
                    tracing::debug!(service, %backend, client = ?c.err(), upstream = ?u.err(), "upgrade not completed");
                    return;
                }
            };
            let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                tracing::debug!(service, %backend, error = %e, "upgraded connection ended");
            }
        });
        let (mut head, _) = resp.into_parts();
        head.headers
            .append(header::VIA, HeaderValue::from_static(VIA));
        return Response::from_parts(head, local(Bytes::new()));
    }
}
