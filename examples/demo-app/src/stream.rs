//! Long-lived answers for testing what a proxy does with them: a server-sent event stream
//! (`GET /events?count=N&interval_ms=M`) and a WebSocket echo (`GET /ws`).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

pub type AppBody = BoxBody<Bytes, Infallible>;

/// A body fed by a channel: each message is one frame, the end of the channel the end of
/// the body (so a stream that ends cleanly ends with the chunked terminator).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// A query parameter as a number, or `default`.
fn param(query: Option<&str>, name: &str, default: u64) -> Result<u64, String> {
    let Some(raw) = query
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    else {
        return Ok(default);
    };
    raw.parse()
        .map_err(|_| format!("{name} must be a whole number, not {raw:?}\n"))
}

/// `count` events (default 10), one every `interval_ms` (default 1000), each
/// `id: I` / `data: VERSION I`; then the stream ends. Bad parameters: 400.
pub fn events<T>(version: &str, query: Option<&str>) -> Result<Response<AppBody>, T> {
    let (count, interval) = match (param(query, "count", 10), param(query, "interval_ms", 1000)) {
        (Ok(c), Ok(i)) => (c, Duration::from_millis(i)),
        (Err(e), _) | (_, Err(e)) => {
            let mut resp = Response::new(http_body_util::Full::new(Bytes::from(e)).boxed());
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(resp);
        }
    };
    let (tx, rx) = mpsc::channel(4);
    let version = version.to_string();
    tokio::spawn(async move {
        for i in 1..=count {
            let event = format!("id: {i}\ndata: {version} {i}\n\n");
            if tx.send(Bytes::from(event)).await.is_err() {
                return; // the client went away
            }
            if i < count {
                tokio::time::sleep(interval).await;
            }
        }
    });
    let mut resp = Response::new(ChannelBody(rx).boxed());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// Whether `req` asks for a WebSocket (RFC 6455 §4.2.1).
pub fn wants_websocket(req: &Request<Incoming>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// Accepts the WebSocket and echoes every text and binary message back unchanged until the
/// client closes it.
pub fn websocket(req: Request<Incoming>) -> Response<AppBody> {
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
        let mut resp = Response::new(
            http_body_util::Full::new(Bytes::from_static(b"missing Sec-WebSocket-Key\n")).boxed(),
        );
        *resp.status_mut() = StatusCode::BAD_REQUEST;
        return resp;
    };
    let accept = derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => {
                eprintln!("demo-app: websocket upgrade failed: {e}");
                return;
            }
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            let echo = match msg {
                Message::Text(_) | Message::Binary(_) => msg,
                Message::Close(_) => break,
                _ => continue,
            };
            if ws.send(echo).await.is_err() {
                return;
            }
        }
        let _ = ws.close(None).await;
    });
    let mut resp = Response::new(http_body_util::Empty::new().boxed());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_read_from_the_query() {
        assert_eq!(param(Some("count=3&interval_ms=20"), "count", 10), Ok(3));
        assert_eq!(
            param(Some("count=3&interval_ms=20"), "interval_ms", 1),
            Ok(20)
        );
        assert_eq!(param(None, "count", 10), Ok(10));
        assert!(param(Some("count=x"), "count", 10).is_err());
    }
}
