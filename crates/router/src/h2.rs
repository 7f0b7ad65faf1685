//! HTTP/2 on the client side of the router: the settings of a listener's HTTP/2 half
//! (h2c with prior knowledge, or h2 negotiated by ALPN over TLS).

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Http2Builder;

/// Streams a client may have open at once on one connection: nginx's
/// `http2_max_concurrent_streams` default, so a client that works behind nginx works here.
const MAX_CONCURRENT_STREAMS: u32 = 128;

pub(crate) fn configure(mut http2: Http2Builder<'_, TokioExecutor>) {
    // No adaptive window or server pings: their acknowledgements arrive as reads, which
    // `conn` would take for the start of a request on an idle connection.
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
}

/// Sets `Host` from an HTTP/2 request's `:authority` when the client sent no `Host`.
pub(crate) fn authority_as_host(uri: &hyper::Uri, headers: &mut hyper::HeaderMap) {
    if headers.contains_key(hyper::header::HOST) {
        return;
    }
    if let Some(value) = uri
        .authority()
        .and_then(|a| hyper::header::HeaderValue::from_str(a.as_str()).ok())
    {
        headers.insert(hyper::header::HOST, value);
    }
}

/// Turns a request prepared for an HTTP/1.1 backend into one for an h2c backend: the
/// host moves to `:authority` (an absolute URI) and `te: trailers` says the router takes
/// trailers, which gRPC servers expect (`te` was stripped as hop-by-hop).
pub(crate) fn to_h2c<B>(req: &mut hyper::Request<B>, backend_host: &hyper::header::HeaderValue) {
    let host = req
        .headers_mut()
        .remove(hyper::header::HOST)
        .unwrap_or_else(|| backend_host.clone());
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str)
        .to_string();
    if let Ok(uri) = hyper::Uri::builder()
        .scheme("http")
        .authority(host.as_bytes())
        .path_and_query(path)
        .build()
    {
        *req.uri_mut() = uri;
    }
    *req.version_mut() = hyper::Version::HTTP_2;
    req.headers_mut().insert(
        hyper::header::TE,
        hyper::header::HeaderValue::from_static("trailers"),
    );
}
