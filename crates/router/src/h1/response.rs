//! A backend's HTTP/1.1 response head, parsed in place and rewritten for the client:
//! hop-by-hop headers out, conflicting framing sanitised (as [`crate::headers`] does for
//! hyper responses), `Via` appended, and the body's framing worked out.

use std::mem::MaybeUninit;

use crate::headers::VIA;

use super::request::{
    connection_tokens, content_length, is_hop_by_hop, name_is, push_appended, push_header,
};

/// How the response body is delimited on the backend's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (a `HEAD` request, 204, 304).
    Empty,
    Length(u64),
    Chunked,
    /// Until the backend closes; re-chunked for the client.
    Close,
}

#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// Bytes of the head in the backend's buffer.
    pub(crate) len: usize,
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    /// The backend's connection may carry another request afterwards.
    pub(crate) reusable: bool,
    /// The head the client gets.
    pub(crate) client: Vec<u8>,
}

/// What the bytes read from a backend hold so far.
#[derive(Debug)]
pub(crate) enum Parsed {
    Partial,
    /// An interim (1xx) response of `len` bytes to skip, as hyper's client does.
    Interim(usize),
    Complete(ResponseHead),
}

/// Parses the response head at the start of `buf`, for a request that was a `HEAD` one
/// when `head`; `close` adds `Connection: close` for a client leaving after it.
pub(crate) fn parse(
    buf: &[u8],
    max_headers: usize,
    head: bool,
    close: bool,
) -> Result<Parsed, String> {
    let mut slots: Box<[MaybeUninit<httparse::Header<'_>>]> =
        Box::new_uninit_slice(max_headers.max(1));
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(e) => return Err(format!("invalid response head: {e}")),
    };
    let (Some(version), Some(status)) = (resp.version, resp.code) else {
        return Err("invalid response head".into());
    };
    if (100..200).contains(&status) {
        if status == 101 {
            return Err("101 Switching Protocols to a request that asked for no upgrade".into());
        }
        return Ok(Parsed::Interim(len));
    }
    let headers: &[httparse::Header<'_>] = resp.headers;
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for h in headers {
        if name_is(h.name, "content-length") {
            let v = content_length(h.value).ok_or("invalid content-length in the response")?;
            if length.is_some_and(|l| l != v) {
                return Err("conflicting content-length values in the response".into());
            }
            length = Some(v);
        } else if name_is(h.name, "transfer-encoding") {
            let last = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .map(str::trim);
            chunked = Some(last.is_some_and(|c| c.eq_ignore_ascii_case("chunked")));
        }
    }
    let framing = if head || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) => return Err("unsupported transfer-encoding in the response".into()),
            (None, Some(n)) => Framing::Length(n),
            (None, None) => Framing::Close,
        }
    };
    let named: Vec<&str> = connection_tokens(headers).collect();
    let upstream_close = named.iter().any(|t| t.eq_ignore_ascii_case("close"));

    let mut out = Vec::with_capacity(len + 64);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(resp.reason.unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        let n = h.name;
        // With chunked framing a length is dropped: it could mis-frame the answer.
        let dropped = (chunked.is_some() && name_is(n, "content-length")) || name_is(n, "via");
        if dropped || is_hop_by_hop(n) || named.iter().any(|t| name_is(n, t)) {
            continue;
        }
        push_header(&mut out, n, h.value);
    }
    if matches!(framing, Framing::Chunked | Framing::Close) {
        push_header(&mut out, "transfer-encoding", b"chunked");
    }
    push_appended(&mut out, headers, "via", VIA.as_bytes());
    if close {
        push_header(&mut out, "connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Parsed::Complete(ResponseHead {
        len,
        status,
        framing,
        reusable: version == 1 && !upstream_close && framing != Framing::Close,
        client: out,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(raw: &str, head: bool) -> (ResponseHead, String) {
        match parse(raw.as_bytes(), 100, head, false).unwrap() {
            Parsed::Complete(h) => {
                let text = String::from_utf8(h.client.clone()).unwrap();
                (h, text)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_length_framed_answer_keeps_its_length_and_gains_via() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\nVia: 1.1 app\r\n\r\nok";
        let (h, text) = complete(raw, false);
        assert_eq!(
            (h.status, h.framing, h.reusable),
            (200, Framing::Length(2), true)
        );
        assert_eq!(h.len, raw.len() - 2);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nvia: 1.1 app, 1.1 gantry\r\n\r\n"
        );
    }

    #[test]
    fn chunked_framing_wins_over_a_length() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (h, text) = complete(raw, false);
        assert_eq!(h.framing, Framing::Chunked);
        assert!(!text.contains("content-length"), "{text}");
        assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
    }

    #[test]
    fn bodies_without_framing_are_read_to_close_and_rechunked() {
        let (h, text) = complete("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false);
        assert_eq!((h.framing, h.reusable), (Framing::Close, false));
        assert!(text.contains("transfer-encoding: chunked\r\n") && !text.contains("onnection"));
        let (h, _) = complete("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false);
        assert!(!h.reusable, "an HTTP/1.0 backend closes");
    }

    #[test]
    fn some_answers_have_no_body() {
        for (raw, head) in [
            ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true),
            ("HTTP/1.1 204 No Content\r\n\r\n", false),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
            ),
        ] {
            assert_eq!(complete(raw, head).0.framing, Framing::Empty, "{raw}");
        }
    }

    #[test]
    fn interim_answers_are_skipped_and_bad_ones_refused() {
        let raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
        assert!(matches!(parse(raw, 100, false, false), Ok(Parsed::Interim(n)) if n == raw.len()));
        for raw in [
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "SSH-2.0\r\n\r\n",
        ] {
            assert!(parse(raw.as_bytes(), 100, false, false).is_err(), "{raw}");
        }
        let many: String = (0..101).map(|i| format!("x-{i}: v\r\n")).collect();
        let raw = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
        assert!(parse(raw.as_bytes(), 100, false, false).is_err());
        assert!(parse(raw.as_bytes(), 256, false, false).is_ok());
    }

    #[test]
    fn a_leaving_client_is_told_so() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let Ok(Parsed::Complete(h)) = parse(raw, 100, false, true) else {
            panic!()
        };
        assert!(
            String::from_utf8(h.client)
                .unwrap()
                .ends_with("connection: close\r\n\r\n")
        );
    }
}
