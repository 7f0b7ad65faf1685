//! Strict JSON request bodies. A misspelt field must not be dropped silently — a rollback
//! sent as `{"dry-run": true}` would otherwise run for real — so the request types refuse
//! unknown fields, and every way a body can be wrong (no or another content type, bad
//! JSON, wrong types, not an object) answers 400 with a JSON `{"error": …}` instead of
//! axum's plain-text 415/422.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A JSON object body the request must carry.
pub(crate) struct Strict<T>(pub T);

/// A JSON object body the request may leave out (empty body: `T::default()`). A body that is
/// there is held to the same rules as [`Strict`].
pub(crate) struct StrictOrEmpty<T>(pub T);

/// For operations that take no parameters: only `{}` or no body.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoFields {}

/// Why a body was refused; answers `{"error": …}` with its status (400 but for a body
/// over the size limit, 413).
#[derive(Debug)]
pub(crate) struct Rejected {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        crate::error::ApiError::new(
            self.status,
            crate::error::ErrorCode::BadRequest,
            self.message,
            "send a JSON object (Content-Type: application/json) with only the documented fields; GET /v1/openapi.json has the schemas",
        )
        .into_response()
    }
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Rejected {
    Rejected {
        status,
        message: message.to_string(),
    }
}

async fn bytes<S: Send + Sync>(req: Request, state: &S) -> Result<(HeaderMap, Bytes), Rejected> {
    let headers = req.headers().clone();
    let body = Bytes::from_request(req, state)
        .await
        // Keeps its own status (413 for a body over the limit), but answers in JSON.
        .map_err(|e| refuse(e.status(), format!("request body: {}", e.body_text())))?;
    Ok((headers, body))
}

/// `application/json` or `application/…+json`, parameters (charset) allowed.
fn is_json(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(
            "the request has a body but no Content-Type; send it as application/json".into(),
        );
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let ok = essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Content-Type is `{text}`; the request body must be application/json"
        ))
    }
}

fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, Rejected> {
    is_json(headers).map_err(|m| refuse(StatusCode::BAD_REQUEST, m))?;
    // A struct also deserializes from an array (its fields by position), which would
    // bypass the check for unknown names.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "request body: expected a JSON object",
        ));
    }
    // Typed first: its errors have positions, and it refuses duplicate fields, which a
    // `Value` would silently merge.
    let parsed = serde_json::from_slice(body)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("request body: {e}")))?;
    // What a client sends may end up in the evidence ledger (a decision's token count),
    // which records numbers only within ±(2^53−1): refused here, named, rather than
    // failing later as the ledger's error (a 500).
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, format!("request body: {e}")))?;
    if let Some(problem) = gantry_ledger::body_problem(&value) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("request {problem}"),
        ));
    }
    Ok(parsed)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Strict<T> {
    type Rejection = Rejected;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, body) = bytes(req, state).await?;
        if body.is_empty() {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "this request needs a JSON object body (Content-Type: application/json)",
            ));
        }
        parse(&headers, &body).map(Strict)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for StrictOrEmpty<T> {
    type Rejection = Rejected;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (headers, body) = bytes(req, state).await?;
        if body.is_empty() {
            return Ok(StrictOrEmpty(T::default()));
        }
        parse(&headers, &body).map(StrictOrEmpty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Req {
        #[serde(default)]
        dry_run: bool,
    }

    fn json_headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    fn message(r: Rejected) -> (StatusCode, String) {
        (r.status, r.message)
    }

    #[test]
    fn content_types_of_json_are_accepted_with_parameters() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json(&json_headers(ct)).is_ok(), "{ct}");
        }
        for ct in ["text/plain", "application/jsonx", "json"] {
            assert!(is_json(&json_headers(ct)).is_err(), "{ct}");
        }
        assert!(is_json(&HeaderMap::new()).is_err());
    }

    #[test]
    fn unknown_fields_wrong_types_and_non_objects_are_400_naming_the_problem() {
        let h = json_headers("application/json");
        let r: Req = parse(&h, br#"{"dry_run": true}"#).unwrap();
        assert!(r.dry_run);
        let (status, msg) = message(parse::<Req>(&h, br#"{"dry-run": true}"#).unwrap_err());
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(msg.contains("unknown field `dry-run`"), "{msg}");
        assert!(msg.contains("dry_run"), "{msg}");
        let (_, msg) = message(parse::<Req>(&h, br#"{"dry_run": "yes"}"#).unwrap_err());
        assert!(msg.contains("invalid type"), "{msg}");
        let (_, msg) = message(parse::<Req>(&h, b"[true]").unwrap_err());
        assert!(msg.contains("expected a JSON object"), "{msg}");
        let (_, msg) = message(parse::<Req>(&h, b"{\"dry_run\": tru").unwrap_err());
        assert!(msg.contains("line 1"), "{msg}");
        let (status, _) = message(parse::<NoFields>(&h, br#"{"force": true}"#).unwrap_err());
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(parse::<NoFields>(&h, b" {} ").is_ok());
    }
}
