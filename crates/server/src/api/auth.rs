//! Who may call what. Every call presents a bearer token: the admin token
//! (`.gantry/admin.token` or `GANTRY_TOKEN` at start; role `admin`) or a role token from
//! `.gantry/tokens.json` (`gantry token create`). Each route needs one permission
//! ([`required`]); the token's role must hold it (`access:` in gantry.yaml).
//!
//! Refusals: no or an unknown token → 401; an expired or revoked token → 401 saying which;
//! a role without the permission → 403 naming the permission and the role. Every refusal is
//! a warning in the server's log (method, path, peer, why; never what was presented) and a
//! count in `GET /v1/ps`; a refusal of a known token (expired, revoked, forbidden) is also
//! an `access.denied` ledger entry (route, role, token name, permission). Calls without a
//! known token are not recorded: anyone on the machine could fill the ledger with them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gantry_access::{ADMIN, Denied, Permission, Roles, TokenStore};
use serde_json::{Value, json};

use super::Api;
use crate::error::{ApiError, ErrorCode};
use crate::{App, By, Caller, ServerError};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    MissingHeader,
    WrongScheme,
    WrongToken,
    Expired {
        name: String,
        role: String,
        at: String,
    },
    Revoked {
        name: String,
        role: String,
        at: String,
    },
    Forbidden {
        name: String,
        role: String,
        permission: Permission,
    },
}

impl Refusal {
    fn reason(&self) -> String {
        match self {
            Refusal::MissingHeader => "missing Authorization header".into(),
            Refusal::WrongScheme => "Authorization scheme is not Bearer".into(),
            Refusal::WrongToken => "wrong bearer token".into(),
            Refusal::Expired { name, at, .. } => format!("token '{name}' expired at {at}"),
            Refusal::Revoked { name, at, .. } => format!("token '{name}' was revoked at {at}"),
            Refusal::Forbidden {
                name,
                role,
                permission,
            } => format!("role '{role}' (token '{name}') lacks the permission '{permission}'"),
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Refusal::MissingHeader => "missing_header",
            Refusal::WrongScheme => "wrong_scheme",
            Refusal::WrongToken => "wrong_token",
            Refusal::Expired { .. } => "expired",
            Refusal::Revoked { .. } => "revoked",
            Refusal::Forbidden { .. } => "forbidden",
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

const LABELS: [&str; 6] = [
    "missing_header",
    "wrong_scheme",
    "wrong_token",
    "expired",
    "revoked",
    "forbidden",
];

/// Refused calls since this control plane started, by reason.
#[derive(Debug, Default)]
pub(crate) struct Refused([AtomicU64; 6]);

impl Refused {
    fn count(&self, why: &Refusal) {
        let i = LABELS.iter().position(|l| *l == why.label()).unwrap_or(0);
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn view(&self) -> Value {
        let mut out = serde_json::Map::new();
        let mut total = 0;
        for (label, n) in LABELS.iter().zip(&self.0) {
            let n = n.load(Ordering::Relaxed);
            total += n;
            out.insert((*label).into(), n.into());
        }
        out.insert("total".into(), total.into());
        Value::Object(out)
    }
}

/// The permission a route needs; `None` for routes that do not exist (a valid token then
/// gets 404, so callers without one learn nothing about the routes).
pub(crate) fn required(route: &str, path: &str) -> Option<Permission> {
    use Permission::*;
    Some(match route {
        "/v1/ps"
        | "/v1/deployments/{id}"
        | "/v1/openapi.json"
        | "/v1/events"
        | "/v1/status"
        | "/v1/status/refresh"
        | "/metrics"
        | "/v1/whoami"
        | "/v1/ledger"
        | "/v1/agents/usage"
        | "/v1/runs"
        | "/v1/runs/{id}"
        | "/v1/runs/{id}/logs"
        | "/v1/runs/{id}/logs/{step}"
        | "/v1/decisions"
        | "/mcp" => Read,
        "/v1/decisions/veto" => Veto,
        "/v1/decisions/approve" | "/v1/services/{service}/approve" => Approve,
        "/v1/pipelines/{pipeline}/runs" => RunPipeline,
        "/v1/runs/{id}/checkpoints/{stage}/sign" => Sign,
        "/v1/runs/{id}/checkpoints/{stage}/veto" => Veto,
        "/v1/ledger/verify" => VerifyLedger,
        "/v1/tokens" => ManageTokens,
        "/v1/services/{service}/deploy" => Deploy,
        "/v1/services/{service}/rollback" => Rollback,
        "/v1/services/{service}/promote" => Promote,
        "/v1/services/{service}/{op}" => match path.rsplit('/').next() {
            Some("pause") => Pause,
            Some("resume") => Resume,
            Some("abort") => Abort,
            _ => return None,
        },
        "/v1/control/emergency-stop" => EmergencyStop,
        "/v1/control/start" => Start,
        "/v1/control/shutdown" => Shutdown,
        "/v1/control/reload" => Reload,
        _ => return None,
    })
}

/// The call being checked, for the log line and the `access.denied` entry.
pub(crate) struct Call {
    pub method: String,
    /// The route as declared (`/v1/services/{service}/deploy`), else the path.
    pub route: String,
    pub path: String,
    pub peer: String,
    pub permission: Option<Permission>,
}

/// What the API checks tokens against.
pub(crate) struct Access {
    admin: Token,
    pub(crate) roles: Roles,
    pub(crate) store: TokenStore,
    pub(crate) refused: Refused,
    /// When each token's `last_used` was last written: at most once a minute, so a busy
    /// agent does not turn every call into a file write.
    touched: Mutex<HashMap<String, Instant>>,
}

const TOUCH_EVERY: Duration = Duration::from_secs(60);

impl Access {
    pub(crate) fn new(admin: Token, roles: Roles, store: TokenStore) -> Access {
        Access {
            admin,
            roles,
            store,
            refused: Refused::default(),
            touched: Mutex::default(),
        }
    }

    /// Who presents `token`.
    pub(crate) fn identify(&self, token: &str) -> Result<Caller, Result<Refusal, ApiError>> {
        if self.admin.matches(token) {
            return Ok(Caller {
                role: ADMIN.to_string(),
                token: "admin.token".to_string(),
            });
        }
        let now = time::OffsetDateTime::now_utc();
        match self.store.authenticate(token, now) {
            Ok(Ok(rec)) => {
                self.touch(&rec.name, now);
                Ok(Caller {
                    role: rec.role,
                    token: rec.name,
                })
            }
            Ok(Err(Denied::Unknown)) => Err(Ok(Refusal::WrongToken)),
            Ok(Err(Denied::Expired { name, role, at })) => {
                Err(Ok(Refusal::Expired { name, role, at }))
            }
            Ok(Err(Denied::Revoked { name, role, at })) => {
                Err(Ok(Refusal::Revoked { name, role, at }))
            }
            Err(e) => Err(Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                format!("cannot check the token: {e}"),
                "fix .gantry/tokens.json (`gantry token list` says what is wrong with it)",
            ))),
        }
    }

    /// `Ok` if `caller`'s role holds `permission`.
    pub(crate) fn allow(&self, caller: &Caller, permission: Permission) -> Result<(), Refusal> {
        if self.roles.allows(&caller.role, permission) {
            return Ok(());
        }
        Err(Refusal::Forbidden {
            name: caller.token.clone(),
            role: caller.role.clone(),
            permission,
        })
    }

    fn touch(&self, name: &str, now: time::OffsetDateTime) {
        let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        if touched.get(name).is_some_and(|t| t.elapsed() < TOUCH_EVERY) {
            return;
        }
        touched.insert(name.to_string(), Instant::now());
        let (store, name) = (self.store.clone(), name.to_string());
        // Off the request path; a failure costs only the `last used` column.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = store.touch(&name, now) {
                tracing::warn!(error = %e, token = %name, "cannot record the token's last use");
            }
        });
    }

    /// The refusal as the API answers it; counted, logged and (for a known token) recorded.
    pub(crate) async fn refuse(&self, app: &App, why: Refusal, call: &Call) -> ApiError {
        let Call {
            method,
            route,
            path,
            peer,
            permission,
        } = call;
        let permission = *permission;
        self.refused.count(&why);
        let reason = why.reason();
        let status = if matches!(why, Refusal::Forbidden { .. }) {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        tracing::warn!(
            method = %method,
            path = %path,
            peer = %peer,
            reason = %reason,
            "API call refused ({})",
            status.as_u16()
        );
        if let Refusal::Expired { name, role, .. }
        | Refusal::Revoked { name, role, .. }
        | Refusal::Forbidden { name, role, .. } = &why
        {
            app.core
                .record(
                    By::System,
                    "access.denied",
                    json!({"route": format!("{method} {route}"), "path": path, "role": role,
                    "token": name, "permission": permission.map(Permission::name),
                    "reason": why.label()}),
                )
                .await;
        }
        match &why {
            Refusal::Forbidden {
                role, permission, ..
            } => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                format!("{reason} needed for {method} {route}"),
                format!(
                    "use a token of a role that holds '{permission}' ({}), e.g. `gantry token create --role {}`; role '{role}' may: {}",
                    self.roles.holding(*permission).join(", "),
                    if self.roles.allows("operator", *permission) {
                        "operator"
                    } else {
                        ADMIN
                    },
                    self.roles
                        .permissions(role)
                        .map(|p| p.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                ),
            ),
            _ => {
                let mut e = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::Unauthorized,
                    reason,
                    match &why {
                        Refusal::Expired { .. } | Refusal::Revoked { .. } => {
                            "create a new token with `gantry token create --role ROLE`"
                        }
                        _ => {
                            "send `Authorization: Bearer TOKEN` with a token from `gantry token create`, \
                             or the one in .gantry/admin.token (the CLI reads GANTRY_TOKEN first, then that file)"
                        }
                    },
                );
                e.challenge = Some(match why {
                    Refusal::MissingHeader | Refusal::WrongScheme => r#"Bearer realm="gantry""#,
                    _ => r#"Bearer realm="gantry", error="invalid_token""#,
                });
                e
            }
        }
    }
}

pub(crate) async fn require_token(State(api): State<Api>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| path.clone(), |m| m.as_str().to_string());
    let call = Call {
        method: req.method().to_string(),
        permission: required(&route, &path),
        peer: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_string(), |c| c.0.to_string()),
        route,
        path,
    };
    let identified = match presented(req.headers()) {
        Ok(t) => api.access.identify(t),
        Err(why) => Err(Ok(why)),
    };
    let checked = identified.and_then(|caller| match call.permission {
        Some(p) => api.access.allow(&caller, p).map(|()| caller).map_err(Ok),
        None => Ok(caller),
    });
    match checked {
        Ok(caller) => super::budget::within(&api, caller, &call, req, next).await,
        Err(Err(e)) => e.into_response(),
        Err(Ok(why)) => api
            .access
            .refuse(&api.app, why, &call)
            .await
            .into_response(),
    }
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
    fn every_route_needs_a_permission() {
        use Permission::*;
        for (route, path, want) in [
            ("/v1/ps", "/v1/ps", Some(Read)),
            (
                "/v1/services/{service}/{op}",
                "/v1/services/web/pause",
                Some(Pause),
            ),
            (
                "/v1/services/{service}/{op}",
                "/v1/services/web/abort",
                Some(Abort),
            ),
            (
                "/v1/services/{service}/{op}",
                "/v1/services/web/explode",
                None,
            ),
            (
                "/v1/control/shutdown",
                "/v1/control/shutdown",
                Some(Shutdown),
            ),
            ("/v1/nothing", "/v1/nothing", None),
        ] {
            assert_eq!(required(route, path), want, "{path}");
        }
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
