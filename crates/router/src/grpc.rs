//! gRPC status of responses, for analysis: a gRPC call answers HTTP 200 and reports its
//! outcome in `grpc-status`, in the trailers (or, for a call that fails at once, in the
//! headers of a "trailers-only" response). A status among the service's error codes
//! counts against the version like a 5xx.

use hyper::HeaderMap;
use hyper::header::{self, HeaderValue};

/// Status codes by number (<https://grpc.github.io/grpc/core/md_doc_statuscodes.html>).
pub const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// A set of gRPC status codes (0–16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcCodes(u32);

impl Default for GrpcCodes {
    /// The codes that say the server failed, not the caller: UNKNOWN, DEADLINE_EXCEEDED,
    /// UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS — the server-side failures of the
    /// gRPC status table, as the HTTP mapping sends them as 5xx (and 504 for
    /// DEADLINE_EXCEEDED). Codes about the request (INVALID_ARGUMENT, NOT_FOUND,
    /// PERMISSION_DENIED, …) are the client's business, like a 4xx, and CANCELLED is
    /// usually the client giving up.
    fn default() -> Self {
        GrpcCodes::from_codes([2, 4, 12, 13, 14, 15])
    }
}

impl GrpcCodes {
    /// The set of `codes`; numbers above 16 are ignored (no such status).
    pub fn from_codes(codes: impl IntoIterator<Item = u8>) -> Self {
        GrpcCodes(
            codes
                .into_iter()
                .filter(|c| usize::from(*c) < CODE_NAMES.len())
                .fold(0, |set, c| set | (1 << c)),
        )
    }

    /// The code named `name` (as in the gRPC status table, e.g. `UNAVAILABLE`).
    pub fn code_of(name: &str) -> Option<u8> {
        CODE_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .and_then(|i| u8::try_from(i).ok())
    }

    pub fn contains(&self, code: u32) -> bool {
        code < 32 && self.0 & (1 << code) != 0
    }
}

/// Whether a response is a gRPC call's (`content-type: application/grpc[+proto|…]`).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// The `grpc-status` in `headers` (or trailers), if any. An unparsable one is UNKNOWN,
/// as gRPC clients read it.
pub(crate) fn status(headers: &HeaderMap) -> Option<u32> {
    headers.get("grpc-status").map(|v: &HeaderValue| {
        v.to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_server_side_failures() {
        let d = GrpcCodes::default();
        for name in [
            "UNKNOWN",
            "DEADLINE_EXCEEDED",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
        ] {
            assert!(
                d.contains(u32::from(GrpcCodes::code_of(name).unwrap())),
                "{name}"
            );
        }
        for name in [
            "OK",
            "CANCELLED",
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "PERMISSION_DENIED",
            "UNAUTHENTICATED",
        ] {
            assert!(
                !d.contains(u32::from(GrpcCodes::code_of(name).unwrap())),
                "{name}"
            );
        }
        assert!(!d.contains(99));
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(GrpcCodes::code_of("unavailable"), Some(14));
        assert_eq!(GrpcCodes::code_of("NOPE"), None);
        assert_eq!(GrpcCodes::from_codes([5, 40]), GrpcCodes::from_codes([5]));
    }

    #[test]
    fn status_is_read_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(status(&h), None);
        h.insert("grpc-status", HeaderValue::from_static("14"));
        assert_eq!(status(&h), Some(14));
        h.insert("grpc-status", HeaderValue::from_static("x"));
        assert_eq!(status(&h), Some(2));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc+proto"),
        );
        assert!(is_grpc(&h));
    }
}
