//! Properties of the fast path's parsers over generated input: no input makes them
//! panic, and what they write for the other side parses back to what came in.

use std::net::SocketAddr;

use proptest::prelude::*;

use super::chunked::{self, Chunked};
use super::request::{self, HeadLimits};
use super::response;
use crate::headers::Client;

const LIMITS: HeadLimits = HeadLimits {
    headers: 100,
    bytes: 32 * 1024,
    body: 64 * 1024,
};

fn client() -> Client {
    let peer: SocketAddr = ([10, 0, 0, 7], 4000).into();
    Client::new(peer, &[], true, false)
}

/// Header names and values a client may send (tokens, visible ASCII and spaces).
fn header() -> impl Strategy<Value = (String, String)> {
    ("[A-Za-z][A-Za-z0-9-]{0,15}", "[!-~]([ -~]{0,30}[!-~])?")
}

proptest! {
    #[test]
    fn no_request_bytes_make_the_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = request::parse(&bytes, LIMITS, &client());
    }

    #[test]
    fn no_response_bytes_make_the_parser_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), head: bool, close: bool) {
        let _ = response::parse(&bytes, 100, head, close);
        let _ = Chunked::default().feed(&bytes);
    }

    #[test]
    fn a_forwarded_request_parses_back_with_its_end_to_end_headers(
        method in "GET|POST|PUT|DELETE|PATCH",
        path in "/[a-z0-9/?=&]{0,20}",
        headers in proptest::collection::vec(header(), 0..12),
    ) {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: shop\r\n");
        for (n, v) in &headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        let request::Parsed::Fast(h) = request::parse(raw.as_bytes(), LIMITS, &client()) else {
            // Framing and hop-by-hop headers among the generated ones send it elsewhere.
            return Ok(());
        };
        prop_assert_eq!(h.len, raw.len());
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut up = httparse::Request::new(&mut slots);
        prop_assert!(matches!(up.parse(&h.upstream), Ok(httparse::Status::Complete(n)) if n == h.upstream.len()));
        prop_assert_eq!(up.method, Some(method.as_str()));
        prop_assert_eq!(up.path, Some(path.as_str()));
        let count = |name: &str| up.headers.iter().filter(|x| x.name.eq_ignore_ascii_case(name)).count();
        prop_assert_eq!(count("x-forwarded-for"), 1);
        prop_assert_eq!(count("via"), 1);
        for (n, v) in &headers {
            let kept = up.headers.iter().any(|x| x.name.eq_ignore_ascii_case(n) && x.value == v.as_bytes());
            let ours = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "via", "connection", "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection", "content-length"]
                .iter()
                .any(|o| n.eq_ignore_ascii_case(o));
            prop_assert!(kept || ours, "{} was lost", n);
        }
    }

    #[test]
    fn a_response_head_for_the_client_parses_back(
        status in 200u16..600,
        headers in proptest::collection::vec(header(), 0..12),
        length in proptest::option::of(0u64..100_000),
    ) {
        let mut raw = format!("HTTP/1.1 {status} Whatever\r\n");
        for (n, v) in &headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(l) = length {
            raw.push_str(&format!("Content-Length: {l}\r\n"));
        }
        raw.push_str("\r\n");
        let Ok(response::Parsed::Complete(h)) = response::parse(raw.as_bytes(), 100, false, false) else {
            return Ok(());
        };
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut back = httparse::Response::new(&mut slots);
        prop_assert!(matches!(back.parse(&h.client), Ok(httparse::Status::Complete(_))));
        prop_assert_eq!(back.code, Some(status));
        let framing = back.headers.iter().filter(|x| {
            x.name.eq_ignore_ascii_case("content-length") || x.name.eq_ignore_ascii_case("transfer-encoding")
        }).count();
        prop_assert!(framing <= 1 || h.framing == response::Framing::Empty, "one framing header at most");
    }

    #[test]
    fn a_chunked_body_ends_where_it_ends_at_any_split(
        sizes in proptest::collection::vec(0usize..300, 0..8),
        split in any::<prop::sample::Index>(),
    ) {
        let mut body = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            chunked::encode(&vec![b'a' + (i as u8 % 26); *n], &mut body);
        }
        body.extend_from_slice(chunked::END);
        let whole = body.len();
        body.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let at = split.index(body.len());
        let mut c = Chunked::default();
        let first = c.feed(&body[..at]).unwrap();
        let second = c.feed(&body[first..]).unwrap();
        prop_assert_eq!(first + second, whole);
        prop_assert!(c.is_done());
    }
}
