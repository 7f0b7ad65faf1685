//! The bearer token every API call must present, and what happens to calls without it:
//! 401, a warning in the server's log (method, path, peer, why; never what was presented)
//! and a count by reason that `GET /v1/ps` reports.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Api;
use crate::ServerError;

/// Shorter tokens are refused at start: 32 bytes is what `gantry init` draws at random (and
/// writes as 64 hex characters).
pub const MIN_TOKEN_BYTES: usize = 32;

/// The API token, checked when it is made; its `Debug` never shows it.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// `from` says where the token came from (an env var, a file), for the error.
    pub fn new(value: &str, from: &str) -> Result<Token, ServerError> {
        let why = if value.len() < MIN_TOKEN_BYTES {
            Some(format!(
                "is {} bytes long; at least {MIN_TOKEN_BYTES} are required",
                value.len()
            ))
        } else if !value.bytes().all(|b| b.is_ascii_graphic()) {
            // Header values outside visible ASCII do not survive every client and proxy.
            Some("holds spaces, control or non-ASCII characters; use visible ASCII only".into())
        } else {
            None
        };
        match why {
            Some(why) => Err(ServerError::WeakToken {
                from: from.to_string(),
                why,
            }),
            None => Ok(Token(value.into())),
        }
    }

    fn matches(&self, given: &str) -> bool {
        same(given.as_bytes(), self.0.as_bytes())
    }
}

/// Compares without stopping at the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    MissingHeader,
    WrongScheme,
    WrongToken,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::MissingHeader => "missing Authorization header",
            Refusal::WrongScheme => "Authorization scheme is not Bearer",
            Refusal::WrongToken => "wrong bearer token",
        }
    }
}

/// The token in an `Authorization` header, if the scheme is Bearer. RFC 7235 makes the
/// scheme case-insensitive (`bearer`, `BEARER`); the token is compared exactly.
pub(crate) fn presented(headers: &HeaderMap) -> Result<&str, Refusal> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(Refusal::MissingHeader)?
        .to_str()
        .map_err(|_| Refusal::WrongScheme)?
        .trim();
    let (scheme, token) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::WrongScheme);
    }
    Ok(token.trim())
}

/// Refused calls since this control plane started, by reason.
#[derive(Debug, Default)]
pub(crate) struct Refused {
    missing_header: AtomicU64,
    wrong_scheme: AtomicU64,
    wrong_token: AtomicU64,
}

impl Refused {
    fn count(&self, why: Refusal) {
        let n = match why {
            Refusal::MissingHeader => &self.missing_header,
            Refusal::WrongScheme => &self.wrong_scheme,
            Refusal::WrongToken => &self.wrong_token,
        };
        n.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn view(&self) -> Value {
        let (m, s, t) = (
            self.missing_header.load(Ordering::Relaxed),
            self.wrong_scheme.load(Ordering::Relaxed),
            self.wrong_token.load(Ordering::Relaxed),
        );
        json!({"total": m + s + t, "missing_header": m, "wrong_scheme": s, "wrong_token": t})
    }
}

pub(crate) async fn require_token(State(api): State<Api>, req: Request, next: Next) -> Response {
    let why = match presented(req.headers()) {
        Ok(t) if api.token.matches(t) => return next.run(req).await,
        Ok(_) => Refusal::WrongToken,
        Err(why) => why,
    };
    api.refused.count(why);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_string(), |c| c.0.to_string());
    // The path only: a query string could carry what a client mistook for a parameter.
    tracing::warn!(
        method = %req.method(),
        path = req.uri().path(),
        peer = %peer,
        reason = why.as_str(),
        "API call refused (401)"
    );
    let challenge = match why {
        Refusal::WrongToken => r#"Bearer realm="gantry", error="invalid_token""#,
        _ => r#"Bearer realm="gantry""#,
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        Json(json!({"error": format!(
            "{}; send `Authorization: Bearer TOKEN` with the token in .gantry/admin.token \
             (the CLI reads GANTRY_TOKEN first, then that file)",
            why.as_str()
        )})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = auth {
            h.insert(header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_exact() {
        for a in ["Bearer abc", "bearer abc", "BEARER abc", "BeArEr   abc  "] {
            assert_eq!(presented(&headers(Some(a))), Ok("abc"), "{a}");
        }
        assert_eq!(
            presented(&headers(None)),
            Err(Refusal::MissingHeader),
            "no header"
        );
        assert_eq!(presented(&headers(Some("Bearer"))), Ok(""));
        for a in ["Basic abc", "Bearerabc", "abc"] {
            assert_eq!(
                presented(&headers(Some(a))),
                Err(Refusal::WrongScheme),
                "{a}"
            );
        }
        let token = Token::new(&"a".repeat(32), "test").unwrap();
        assert!(token.matches(&"a".repeat(32)));
        assert!(!token.matches(&"A".repeat(32)));
        assert!(!token.matches(&"a".repeat(31)));
    }

    #[test]
    fn short_or_unprintable_tokens_are_refused_naming_their_source() {
        let err = Token::new("short", "GANTRY_TOKEN").unwrap_err().to_string();
        assert!(
            err.contains("GANTRY_TOKEN") && err.contains("5 bytes") && err.contains("32"),
            "{err}"
        );
        let err = Token::new(&format!("{} x", "a".repeat(40)), "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("visible ASCII"), "{err}");
        assert!(Token::new(&"a".repeat(32), "f").is_ok());
        assert_eq!(
            format!("{:?}", Token::new(&"s".repeat(40), "f").unwrap()),
            "Token(***)"
        );
    }
}
