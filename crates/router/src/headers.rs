//! Header rewriting on the way through: hop-by-hop headers out, `Via`, `X-Forwarded-*`
//! and (optionally) RFC 7239 `Forwarded` in, a response's conflicting framing sanitised.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};

/// What the router adds to `Via` on requests and responses.
pub(crate) const VIA: &str = "1.1 gantry";

/// hyper's own limit of header lines per message. Its parser keeps that many slots on the
/// stack; any other figure, set with `max_headers`, is allocated (and filled) per message,
/// so a limit of exactly this is left unset.
pub(crate) const HYPER_MAX_HEADERS: usize = 100;

// Made at compile time: `HeaderName::from_static` called per request validated each
// name again (it showed in instruction counts of the request path).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The hop-by-hop headers (RFC 9110 §7.6.1), besides those a `Connection` header names;
/// both request paths strip these.
pub(crate) const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "keep-alive",
    "proxy-connection",
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    // A HeaderName is lower case already.
    HOP_BY_HOP.contains(&name.as_str())
}

/// Removes hop-by-hop headers (RFC 9110 §7.6.1), including those named in `Connection`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // The usual case has none: one pass of cheap comparisons instead of a hashed removal
    // per name (this ran twice per request and showed in profiles).
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
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
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Appends `value` to a comma-separated header, creating it if absent (then without
/// formatting or allocating).
pub(crate) fn append_list(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    let joined = match headers.get(&name) {
        Some(old) if !old.is_empty() => {
            let mut joined = Vec::with_capacity(old.len() + 2 + value.len());
            joined.extend_from_slice(old.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value.as_bytes());
            match HeaderValue::from_bytes(&joined) {
                Ok(v) => v,
                Err(_) => return,
            }
        }
        _ => value,
    };
    headers.insert(name, joined);
}

/// Sets `X-Forwarded-Proto` (the listener's scheme, `proto`) and `X-Forwarded-Host` (the
/// Host the client asked for), replacing what a client sent: only the router knows them.
pub(crate) fn set_forwarded(headers: &mut HeaderMap, proto: &'static str) {
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    match headers.get(header::HOST).cloned() {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host);
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// The `X-Forwarded-For` entry for a client connection (made once per connection).
pub(crate) fn forwarded_for(peer: SocketAddr) -> HeaderValue {
    HeaderValue::try_from(peer.ip().to_string()).expect("an IP address is a valid header value")
}

/// What the router says about a client connection, worked out once per connection.
#[derive(Clone)]
pub(crate) struct Client {
    /// The peer's address as an `X-Forwarded-For` entry.
    pub(crate) ip: HeaderValue,
    /// The peer is one of the service's `trusted_proxies`: what it says about the clients
    /// before it is kept and appended to; from anyone else it is replaced.
    pub(crate) trusted: bool,
    /// The peer as an RFC 7239 `for=` value, when the service sends `Forwarded`.
    pub(crate) forwarded_for: Option<String>,
    /// The scheme the client spoke to the listener: `https` when it terminates TLS.
    pub(crate) proto: &'static str,
}

impl Client {
    pub(crate) fn new(
        peer: SocketAddr,
        trusted_proxies: &[IpNet],
        forwarded: bool,
        tls: bool,
    ) -> Self {
        // A v4 client of a dual-stack listener arrives as ::ffff:a.b.c.d.
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        Client {
            ip: forwarded_for(SocketAddr::new(ip, peer.port())),
            trusted: trusted_proxies.iter().any(|net| net.contains(&ip)),
            forwarded_for: forwarded.then(|| match ip {
                IpAddr::V4(v4) => v4.to_string(),
                // RFC 7239 §6: an IPv6 node is bracketed and the value quoted.
                IpAddr::V6(v6) => format!("\"[{v6}]\""),
            }),
            proto: if tls { "https" } else { "http" },
        }
    }
}

/// Everything the router tells the upstream about the client of a request: `X-Forwarded-
/// Proto`/`-Host` (see [`set_forwarded`]), `X-Forwarded-For` and, when enabled,
/// `Forwarded` — each appended to what a trusted proxy sent, replacing what anyone else
/// did (a client could otherwise name any address it likes).
pub(crate) fn add_forwarding(headers: &mut HeaderMap, client: &Client) {
    // Room for what is added here and `Via`, so the map grows (and rehashes) once at most.
    headers.reserve(4);
    set_forwarded(headers, client.proto);
    if client.trusted {
        append_list(headers, X_FORWARDED_FOR, client.ip.clone());
    } else {
        headers.insert(X_FORWARDED_FOR, client.ip.clone());
    }
    let Some(node) = &client.forwarded_for else {
        return;
    };
    let mut element = format!("for={node};proto={}", client.proto);
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        // Quoted: a host with a port is not an RFC 7230 token.
        let host = host.replace(['"', '\\'], "");
        element.push_str(&format!(";host=\"{host}\""));
    }
    let Ok(value) = HeaderValue::try_from(element) else {
        return;
    };
    if client.trusted {
        append_list(headers, header::FORWARDED, value);
    } else {
        headers.insert(header::FORWARDED, value);
    }
}

/// An upstream response with both `Content-Length` and `Transfer-Encoding` is framed by
/// the latter (RFC 9112 §6.3): the length is dropped so it cannot mis-frame the answer to
/// the client (the response-splitting hazard).
pub(crate) fn sanitize_framing(headers: &mut HeaderMap) {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        headers.remove(header::CONTENT_LENGTH);
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
        let xff = HeaderName::from_static("x-forwarded-for");
        append_list(&mut h, xff.clone(), HeaderValue::from_static("10.0.0.1"));
        append_list(
            &mut h,
            xff.clone(),
            forwarded_for(([127, 0, 0, 1], 9).into()),
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        append_list(&mut h, header::VIA, HeaderValue::from_static(VIA));
        assert_eq!(h["via"], VIA);
    }

    #[test]
    fn forwarded_proto_and_host_replace_the_clients() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("shop.example"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        set_forwarded(&mut h, "http");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "shop.example");
        h.remove(header::HOST);
        set_forwarded(&mut h, "http");
        assert!(!h.contains_key("x-forwarded-host"));
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn a_clients_own_forwarded_for_is_replaced_unless_its_peer_is_trusted() {
        let spoofed = || {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
            h
        };
        let peer: SocketAddr = ([10, 1, 2, 3], 5000).into();
        let mut h = spoofed();
        add_forwarding(&mut h, &Client::new(peer, &[], false, false));
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert!(!h.contains_key(header::FORWARDED));
        let mut h = spoofed();
        add_forwarding(
            &mut h,
            &Client::new(peer, &nets(&["10.0.0.0/8"]), false, false),
        );
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 10.1.2.3");
        let mut h = spoofed();
        add_forwarding(
            &mut h,
            &Client::new(peer, &nets(&["192.168.0.0/16"]), false, false),
        );
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
    }

    #[test]
    fn forwarded_follows_rfc_7239() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("shop.example:8080"));
        h.insert(header::FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        let v6: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        add_forwarding(&mut h, &Client::new(v6, &[], true, false));
        assert_eq!(
            h[header::FORWARDED],
            "for=\"[2001:db8::1]\";proto=http;host=\"shop.example:8080\""
        );
        let mapped: SocketAddr = "[::ffff:10.0.0.9]:1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::FORWARDED, HeaderValue::from_static("for=192.0.2.1"));
        add_forwarding(
            &mut h,
            &Client::new(mapped, &nets(&["10.0.0.0/24"]), true, false),
        );
        assert_eq!(
            h[header::FORWARDED],
            "for=192.0.2.1, for=10.0.0.9;proto=http"
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
    }

    #[test]
    fn a_tls_listener_says_https_in_both_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("shop.example"));
        let peer: SocketAddr = ([10, 1, 2, 3], 5000).into();
        add_forwarding(&mut h, &Client::new(peer, &[], true, true));
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(
            h[header::FORWARDED],
            "for=10.1.2.3;proto=https;host=\"shop.example\""
        );
    }

    #[test]
    fn a_length_beside_chunked_framing_is_dropped() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        sanitize_framing(&mut h);
        assert!(h.contains_key(header::CONTENT_LENGTH), "alone it stays");
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        sanitize_framing(&mut h);
        assert!(!h.contains_key(header::CONTENT_LENGTH));
    }

    #[test]
    fn headers_without_hop_by_hop_ones_are_kept() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("example"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 2);
    }
}
