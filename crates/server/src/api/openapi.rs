//! The OpenAPI 3.1 document of the API, served at `GET /v1/openapi.json`. It is generated
//! from the handlers' own `#[utoipa::path]` annotations and request types, collected by
//! the same router that serves them ([`super::router`]), so a route cannot exist without
//! its entry.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use crate::error::ErrorCode;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gantry control plane",
        description = "The HTTP API of `gantry serve` (loopback). Every call presents a bearer \
            token bound to a role (`gantry token create --role ROLE`, or .gantry/admin.token \
            for admin); each route needs one permission, named in the 403 otherwise. Errors \
            are always {\"error\": {\"code\", \"message\", \"hint\"}}. A call that changes \
            something may be refused with 429 `budget_exceeded` when its role's budget \
            (`access.budgets`) is spent; any call may report agent tokens used in the \
            `X-Gantry-Agent-Tokens` header."
    ),
    modifiers(&Bearer),
    security(("bearer" = [])),
    components(schemas(ErrorBody, ErrorDetail, BudgetErrorBody, BudgetErrorDetail, ErrorCode, StrategyName, OpName))
)]
pub(crate) struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every error answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable; clients branch on it.
    code: ErrorCode,
    message: String,
    /// What to do about it.
    hint: String,
}

/// A refusal over a role's budget (429).
#[derive(Serialize, ToSchema)]
pub(crate) struct BudgetErrorBody {
    error: BudgetErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct BudgetErrorDetail {
    /// `budget_exceeded`.
    code: ErrorCode,
    /// Every budget in the way, with its figures and reset time.
    message: String,
    hint: String,
    /// The caller's role.
    role: String,
    /// The first budget in the way: `actions_per_hour`, `deploys_per_day` or `tokens_per_day`.
    budget: String,
    limit: u64,
    used: u64,
    /// RFC 3339 UTC: when every budget in the way has reset.
    resets_at: String,
    /// Seconds until then (also the `Retry-After` header).
    retry_after: u64,
}

/// The answer of a call that changes something, when its role's budget is spent.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum OverBudget {
    /// A budget of the caller's role is spent (`access.budgets`); recorded as
    /// `access.budget.exceeded`.
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds until the budget resets")))]
    BudgetExceeded(BudgetErrorBody),
}

/// A strategy override for one deploy (`gantry_config::StrategyKind`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum StrategyName {
    Rolling,
    BlueGreen,
    Canary,
}

/// The operations of `POST /v1/services/{service}/{op}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum OpName {
    Pause,
    Resume,
    Abort,
}

/// The error answers every route may give.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Errors {
    /// A bad body, value or content type; nothing changed.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No token, or an unknown, expired or revoked one (the message says which).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The token's role lacks the route's permission (named, with the role).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such service, release, deployment or operation.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Another operation is in progress, an emergency stop is in force, or the phase does
    /// not allow it.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The body is over the size limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    #[response(status = 500)]
    Internal(ErrorBody),
    /// Restoring after a restart (Retry-After), or the ledger cannot be written.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_names_are_the_ones_the_handlers_take() {
        for (doc, real) in [
            (StrategyName::Rolling, gantry_config::StrategyKind::Rolling),
            (
                StrategyName::BlueGreen,
                gantry_config::StrategyKind::BlueGreen,
            ),
            (StrategyName::Canary, gantry_config::StrategyKind::Canary),
        ] {
            assert_eq!(
                serde_json::to_value(doc).unwrap(),
                serde_json::to_value(real).unwrap()
            );
        }
        for (op, path) in [
            (OpName::Pause, "pause"),
            (OpName::Resume, "resume"),
            (OpName::Abort, "abort"),
        ] {
            assert_eq!(serde_json::to_value(op).unwrap(), path);
            assert!(
                super::super::auth::required(
                    "/v1/services/{service}/{op}",
                    &format!("/v1/services/w/{path}")
                )
                .is_some()
            );
        }
    }
}
