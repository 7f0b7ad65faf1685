//! Agent budgets at the API: which calls are charged, the 429 for a call over budget (the
//! same object reaches MCP agents, whose tools call this API), tokens reported in the
//! `X-Gantry-Agent-Tokens` header of any call, and `POST /v1/agents/usage`.
//!
//! Charged: every call that changes something — but the emergency stop, which is the brake
//! and must work for an agent that has spent its budget, and reporting tokens, which must
//! work precisely then.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gantry_access::Permission;
use gantry_access::budgets::{Call, Exceeded, KIND_EXCEEDED, MAX_COUNT, seconds_until};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::Strict;
use super::{Answer, Api, openapi};
use crate::budgets::Refused;
use crate::error::{ApiError, ErrorCode};
use crate::{App, By, Caller, ServerError};

/// The header in which an agent reports the tokens it used for the call it makes
/// (`gantry_mcp` forwards the `gantry/agent_tokens` of an MCP tool call in it).
pub(crate) const AGENT_TOKENS_HEADER: &str = gantry_mcp::AGENT_TOKENS_HEADER;

/// What a call spends of its role's budgets.
pub(crate) fn charge(method: &str, permission: Option<Permission>) -> Call {
    use Permission::*;
    let changes = method != "GET"
        && !matches!(
            permission,
            None | Some(Read | VerifyLedger | ManageTokens | EmergencyStop)
        );
    Call {
        action: changes,
        deploy: changes && permission == Some(Deploy),
    }
}

/// The tokens reported in the header, if any; a value that is not a whole number is a 400.
fn reported(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(AGENT_TOKENS_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n <= MAX_COUNT)
        .map(|n| (n > 0).then_some(n))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                format!(
                    "{AGENT_TOKENS_HEADER} must be a whole number of tokens, at most {MAX_COUNT}"
                ),
                format!("send e.g. `{AGENT_TOKENS_HEADER}: 1200`, or leave it out"),
            )
        })
}

/// Runs an authorised call within its role's budgets.
pub(crate) async fn within(
    api: &Api,
    caller: Caller,
    call: &super::auth::Call,
    req: Request,
    next: Next,
) -> Response {
    // On `/mcp` the MCP server sends the header on with the tool's own API call, which
    // counts it; counting it here too would count it twice.
    let tokens = match reported(req.headers()) {
        Ok(_) if call.route == "/mcp" => None,
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let charge = charge(&call.method, call.permission);
    let route = format!("{} {}", call.method, call.route);
    let admitted = api.budgets.admit(&api.app, &caller, charge, &route).await;
    // Tokens were spent whether or not the call goes through; counted after the check, so
    // they refuse the next call, not this one.
    if let Some(n) = tokens
        && let Err(Refused::Unrecorded) = api
            .budgets
            .report_tokens(&api.app, &caller, n, "header")
            .await
    {
        return unrecorded().into_response();
    }
    match admitted {
        Ok(in_flight) => {
            let answer = caller.scope(next.run(req)).await;
            drop(in_flight);
            answer
        }
        Err(Refused::Over(over)) => refuse(&api.app, &caller, call, &over).await.into_response(),
        Err(Refused::Unrecorded) => unrecorded().into_response(),
    }
}

fn unrecorded() -> ApiError {
    ApiError::from(&ServerError::Unavailable {
        reason: "cannot record the call against its role's budget: the ledger cannot be written"
            .into(),
        retry_after: None,
    })
}

/// The 429, its ledger entry and its log line.
async fn refuse(app: &App, caller: &Caller, call: &super::auth::Call, over: &Exceeded) -> ApiError {
    let first = over.first();
    let now = time::OffsetDateTime::now_utc();
    let retry = seconds_until(over.resets_at(), now);
    let resets_at = over
        .resets_at()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let message = over.message();
    tracing::warn!(
        method = %call.method,
        path = %call.path,
        role = %caller.role,
        token = %caller.token,
        reason = %message,
        "API call refused (429)"
    );
    let figures: Vec<Value> = over
        .over
        .iter()
        .map(|u| json!({"budget": u.budget.name(), "limit": u.limit, "used": u.used, "resets_at": u.resets_at_text()}))
        .collect();
    app.core
        .record(
            By::System,
            KIND_EXCEEDED,
            json!({"route": format!("{} {}", call.method, call.route), "path": call.path,
                "role": caller.role, "token": caller.token, "budget": first.budget.name(),
                "limit": first.limit, "used": first.used, "resets_at": resets_at,
                "over": figures}),
        )
        .await;
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::BudgetExceeded,
        message,
        format!(
            "retry after {resets_at} (Retry-After: {retry} s), or raise access.budgets.{}.{} in \
             gantry.yaml and run `gantry reload`; `gantry status` shows every role's use",
            caller.role,
            first.budget.name()
        ),
    );
    e.retry_after = Some(retry);
    for (k, v) in [
        ("role", json!(caller.role)),
        ("budget", json!(first.budget.name())),
        ("limit", json!(first.limit)),
        ("used", json!(first.used)),
        ("resets_at", json!(resets_at)),
        ("retry_after", json!(retry)),
    ] {
        e.extra.insert(k.into(), v);
    }
    e
}

/// Tokens an agent used, to count against its role's `tokens_per_day`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageRequest {
    /// Tokens used since the last report (at least 1, at most 10^12).
    #[schema(minimum = 1, maximum = 1e12)]
    tokens: u64,
}

#[utoipa::path(post, path = "/v1/agents/usage", tag = "access",
    description = "Report tokens the caller's agent used; they count against its own role's \
        tokens_per_day (permission `read`: every role reports only for itself). Never refused \
        for a budget.",
    request_body = UsageRequest,
    responses((status = 200, description = "Recorded; the role's tokens_per_day use after it (null without that budget)", body = Object),
        openapi::Errors))]
pub(super) async fn usage(State(api): State<Api>, Strict(req): Strict<UsageRequest>) -> Answer {
    let caller = Caller::current()
        .ok_or_else(|| ServerError::BadRequest("no caller for this call".into()))?;
    if !(1..=MAX_COUNT).contains(&req.tokens) {
        return Err(ServerError::BadRequest(format!(
            "tokens must be from 1 to {MAX_COUNT}: report the tokens used since the last report"
        )));
    }
    let budget = match api
        .budgets
        .report_tokens(&api.app, &caller, req.tokens, "api")
        .await
    {
        Ok(u) => u,
        Err(_) => {
            return Err(ServerError::Unavailable {
                reason: "cannot record the reported tokens: the ledger cannot be written".into(),
                retry_after: None,
            });
        }
    };
    Ok(Json(json!({
        "role": caller.role,
        "token": caller.token,
        "tokens": req.tokens,
        "tokens_per_day": budget.map(|u| json!({"used": u.used, "limit": u.limit, "resets_at": u.resets_at_text()})),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_charged_but_reads_the_brake_and_reports() {
        use Permission::*;
        for (method, perm, action, deploy) in [
            ("POST", Some(Deploy), true, true),
            ("POST", Some(Rollback), true, false),
            ("POST", Some(Abort), true, false),
            ("POST", Some(Reload), true, false),
            ("POST", Some(Start), true, false),
            ("POST", Some(EmergencyStop), false, false),
            ("POST", Some(Read), false, false),
            ("POST", Some(VerifyLedger), false, false),
            ("GET", Some(Read), false, false),
            ("GET", Some(ManageTokens), false, false),
            ("POST", None, false, false),
        ] {
            assert_eq!(
                charge(method, perm),
                Call { action, deploy },
                "{method} {perm:?}"
            );
        }
    }

    #[test]
    fn the_tokens_header_takes_whole_numbers_only() {
        let mut h = HeaderMap::new();
        assert_eq!(reported(&h).unwrap(), None);
        h.insert(AGENT_TOKENS_HEADER, "1200".parse().unwrap());
        assert_eq!(reported(&h).unwrap(), Some(1200));
        h.insert(AGENT_TOKENS_HEADER, "0".parse().unwrap());
        assert_eq!(reported(&h).unwrap(), None);
        for bad in ["-3", "12k", "1.5", "9223372036854775808", "1000000000001"] {
            h.insert(AGENT_TOKENS_HEADER, bad.parse().unwrap());
            let e = reported(&h).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
