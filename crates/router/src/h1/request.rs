//! A client's HTTP/1.1 request head, parsed in place and rewritten for the backend in one
//! pass: hop-by-hop headers out, `X-Forwarded-*`, `Forwarded` and `Via` in, with the same
//! rules as [`crate::headers`] applies to a hyper request.
//!
//! Only the requests nearly every client sends are taken here: HTTP/1.1 with `Host`, an
//! origin-form target, no body or a `Content-Length` one small enough to replay. Anything
//! else (chunked or large uploads, `Expect`, upgrades, HTTP/1.0, h2c's preface, a head
//! past the limits, a malformed one) is [`Parsed::Fallback`]: the connection goes to the
//! general hyper path, which answers it (431, 400, …) as it always did.

use std::mem::MaybeUninit;

use crate::headers::{Client, HOP_BY_HOP, VIA};

/// What the connection loop learns from the bytes it has so far.
pub(crate) enum Parsed {
    /// Not a whole head yet.
    Partial,
    Fast(RequestHead),
    /// Hand the connection (with every byte read so far) to the hyper path.
    Fallback,
}

/// A request the fast path forwards.
#[derive(Debug)]
pub(crate) struct RequestHead {
    /// Bytes of the head in the client's buffer.
    pub(crate) len: usize,
    /// Bytes of body that follow it (`Content-Length`).
    pub(crate) body: usize,
    pub(crate) shape: Shape,
    /// The head to send upstream, ready to be followed by the body.
    pub(crate) upstream: Vec<u8>,
}

/// What the exchange needs to know of a request besides its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) idempotent: bool,
    /// A `HEAD` request: the response has no body whatever its headers say.
    pub(crate) head: bool,
    /// The client asked to close the connection after this exchange.
    pub(crate) close: bool,
}

/// The limits of a request head (a service's `max_request_headers` and
/// `max_request_header_bytes`); past either the hyper path answers 431.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub(crate) headers: usize,
    pub(crate) bytes: usize,
    /// Bodies up to this size are read whole (and may be replayed on a retry).
    pub(crate) body: usize,
}

pub(crate) fn name_is(name: &str, expected: &str) -> bool {
    name.eq_ignore_ascii_case(expected)
}

/// Whether a header is hop-by-hop, by [`crate::headers::HOP_BY_HOP`].
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name_is(name, h))
}

/// The comma-separated tokens of every `Connection` header.
pub(crate) fn connection_tokens<'a>(
    headers: &'a [httparse::Header<'a>],
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(|h| name_is(h.name, "connection"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Every value of header `name`, joined with ", " (None: absent).
fn joined(headers: &[httparse::Header<'_>], name: &str) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for h in headers.iter().filter(|h| name_is(h.name, name)) {
        match &mut out {
            None => out = Some(h.value.to_vec()),
            Some(v) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(h.value);
            }
        }
    }
    out.filter(|v| !v.is_empty())
}

/// One header line; the name in lower case, as hyper (the other path) writes it.
pub(crate) fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend(name.bytes().map(|b| b.to_ascii_lowercase()));
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `value` appended to the joined values of `name` (or alone), as one header line.
pub(crate) fn push_appended(
    out: &mut Vec<u8>,
    headers: &[httparse::Header<'_>],
    name: &str,
    value: &[u8],
) {
    match joined(headers, name) {
        Some(mut old) => {
            old.extend_from_slice(b", ");
            old.extend_from_slice(value);
            push_header(out, name, &old);
        }
        None => push_header(out, name, value),
    }
}

/// A `Content-Length` value: digits only (no sign, no list), as RFC 9110 §8.6 has it.
pub(crate) fn content_length(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value)
        .ok()
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse().ok())
}

/// Methods a request may be sent again with (RFC 9110 §9.2.2), both request paths.
pub(crate) fn is_idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}

/// Parses the head at the start of `buf` and, when the fast path takes it, writes the
/// request the backend gets.
pub(crate) fn parse(buf: &[u8], limits: HeadLimits, client: &Client) -> Parsed {
    let mut slots: Box<[MaybeUninit<httparse::Header<'_>>]> =
        Box::new_uninit_slice(limits.headers.max(1));
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() <= limits.bytes => return Parsed::Partial,
        _ => return Parsed::Fallback,
    };
    if len > limits.bytes {
        return Parsed::Fallback;
    }
    let (Some(method), Some(path), Some(1)) = (req.method, req.path, req.version) else {
        return Parsed::Fallback;
    };
    if !path.starts_with('/') || method == "CONNECT" {
        return Parsed::Fallback;
    }
    let headers: &[httparse::Header<'_>] = req.headers;
    let mut host = None;
    let mut body = None;
    for h in headers {
        let n = h.name;
        if name_is(n, "host") {
            if host.is_some() {
                return Parsed::Fallback;
            }
            host = Some(h.value);
        } else if name_is(n, "content-length") {
            let parsed = content_length(h.value).and_then(|n| usize::try_from(n).ok());
            match (body, parsed) {
                (None, Some(len)) => body = Some(len),
                _ => return Parsed::Fallback,
            }
        } else if name_is(n, "transfer-encoding") || name_is(n, "expect") || name_is(n, "upgrade") {
            return Parsed::Fallback;
        }
    }
    let body = body.unwrap_or(0);
    let Some(host) = host else {
        return Parsed::Fallback;
    };
    if body > limits.body {
        return Parsed::Fallback;
    }
    let mut close = false;
    let named: Vec<&str> = connection_tokens(headers)
        .filter(|t| {
            if t.eq_ignore_ascii_case("close") {
                close = true;
            }
            !t.eq_ignore_ascii_case("close") && !t.eq_ignore_ascii_case("keep-alive")
        })
        .collect();

    let mut out = Vec::with_capacity(len + 160);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for h in headers {
        let n = h.name;
        let replaced = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]
            .iter()
            .any(|r| name_is(n, r))
            || (client.forwarded_for.is_some() && name_is(n, "forwarded"))
            || name_is(n, "via");
        if replaced || is_hop_by_hop(n) || named.iter().any(|t| name_is(n, t)) {
            continue;
        }
        push_header(&mut out, n, h.value);
    }
    forwarding(&mut out, headers, host, client);
    push_appended(&mut out, headers, "via", VIA.as_bytes());
    out.extend_from_slice(b"\r\n");
    Parsed::Fast(RequestHead {
        len,
        body,
        shape: Shape {
            idempotent: is_idempotent(method),
            head: method == "HEAD",
            close,
        },
        upstream: out,
    })
}

/// The `X-Forwarded-*` and `Forwarded` lines (see [`crate::headers::add_forwarding`]): the
/// proto and host are the router's to say; a client's own `-For` and `Forwarded` are kept
/// and appended to only when its peer is a trusted proxy.
fn forwarding(out: &mut Vec<u8>, headers: &[httparse::Header<'_>], host: &[u8], c: &Client) {
    push_header(out, "x-forwarded-proto", c.proto.as_bytes());
    push_header(out, "x-forwarded-host", host);
    let ip = c.ip.as_bytes();
    if c.trusted {
        push_appended(out, headers, "x-forwarded-for", ip);
    } else {
        push_header(out, "x-forwarded-for", ip);
    }
    let Some(node) = &c.forwarded_for else {
        return;
    };
    let mut element = format!("for={node};proto={}", c.proto).into_bytes();
    element.extend_from_slice(b";host=\"");
    element.extend(host.iter().filter(|b| !matches!(b, b'"' | b'\\')));
    element.push(b'"');
    if c.trusted {
        push_appended(out, headers, "forwarded", &element);
    } else {
        push_header(out, "forwarded", &element);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    const LIMITS: HeadLimits = HeadLimits {
        headers: 100,
        bytes: 32 * 1024,
        body: 64 * 1024,
    };

    fn client(trusted: bool, forwarded: bool) -> Client {
        let peer: SocketAddr = ([10, 1, 2, 3], 5000).into();
        let nets: Vec<ipnet::IpNet> = if trusted {
            vec!["10.0.0.0/8".parse().unwrap()]
        } else {
            Vec::new()
        };
        Client::new(peer, &nets, forwarded, false)
    }

    fn fast(raw: &str, c: &Client) -> (RequestHead, String) {
        match parse(raw.as_bytes(), LIMITS, c) {
            Parsed::Fast(h) => {
                let text = String::from_utf8(h.upstream.clone()).unwrap();
                (h, text)
            }
            Parsed::Partial => panic!("partial: {raw:?}"),
            Parsed::Fallback => panic!("fallback: {raw:?}"),
        }
    }

    fn is_fallback(raw: &str) -> bool {
        matches!(
            parse(raw.as_bytes(), LIMITS, &client(false, false)),
            Parsed::Fallback
        )
    }

    #[test]
    fn a_plain_get_is_rewritten_for_the_backend() {
        let raw = "GET /a?b=1 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n\r\nNEXT";
        let (h, up) = fast(raw, &client(false, false));
        assert_eq!(h.len, raw.len() - 4);
        assert_eq!(
            (h.body, h.shape.idempotent, h.shape.head, h.shape.close),
            (0, true, false, false)
        );
        assert_eq!(
            up,
            "GET /a?b=1 HTTP/1.1\r\nhost: shop\r\naccept: */*\r\nx-forwarded-proto: http\r\n\
             x-forwarded-host: shop\r\nx-forwarded-for: 10.1.2.3\r\nvia: 1.1 gantry\r\n\r\n"
        );
    }

    #[test]
    fn a_trusted_proxys_chain_is_appended_to() {
        let raw = "POST /p HTTP/1.1\r\nHost: h:8\r\nContent-Length: 3\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\nForwarded: for=1.1.1.1\r\nVia: 1.0 edge\r\nConnection: close\r\n\r\nabc";
        let (h, up) = fast(raw, &client(true, true));
        assert_eq!(
            (h.body, h.shape.idempotent, h.shape.close),
            (3, false, true)
        );
        assert!(
            up.contains("x-forwarded-for: 1.1.1.1, 2.2.2.2, 10.1.2.3\r\n"),
            "{up}"
        );
        assert!(
            up.contains("forwarded: for=1.1.1.1, for=10.1.2.3;proto=http;host=\"h:8\"\r\n"),
            "{up}"
        );
        assert!(up.contains("via: 1.0 edge, 1.1 gantry\r\n"), "{up}");
        assert!(up.contains("content-length: 3\r\n") && !up.contains("onnection"));
    }

    #[test]
    fn an_untrusted_clients_forwarded_is_replaced() {
        let raw = "GET / HTTP/1.1\r\nHost: a\"b\r\nForwarded: for=6.6.6.6\r\n\r\n";
        let (_, up) = fast(raw, &client(false, true));
        assert!(
            up.contains("forwarded: for=10.1.2.3;proto=http;host=\"ab\"\r\n"),
            "{up}"
        );
        assert!(!up.contains("6.6.6.6"), "{up}");
    }

    #[test]
    fn partial_heads_wait_for_more() {
        assert!(matches!(
            parse(
                b"GET / HTTP/1.1\r\nHost: a\r\n",
                LIMITS,
                &client(false, false)
            ),
            Parsed::Partial
        ));
    }

    #[test]
    fn everything_unusual_goes_to_the_general_path() {
        for raw in [
            "GET / HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n",
            "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nHo st: a\r\n\r\n",
        ] {
            assert!(is_fallback(raw), "{raw:?}");
        }
        let many: String = (0..101).map(|i| format!("x-{i}: v\r\n")).collect();
        assert!(is_fallback(&format!(
            "GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n"
        )));
        let long = "x".repeat(33 * 1024);
        assert!(is_fallback(&format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {long}"
        )));
    }
}
