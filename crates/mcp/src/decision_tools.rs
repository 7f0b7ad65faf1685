//! The decision-log tools: read the log, veto or approve a service, and grant the approval
//! a deploy waits for, as the session's role. Each is a call of the API's `/v1/decisions`
//! and `/v1/services/{service}/approve` routes with the session's token. Named apart from
//! the checkpoint tools (`veto`, `sign_checkpoint`) so neither shadows the other.

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::server::Gantry;
use crate::tools::{Answer, answer, failed, segment};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionsArgs {
    /// Only decisions about this service.
    #[serde(default)]
    pub service: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionVetoArgs {
    /// The service vetoed; a blocking veto refuses its deploys until an approve.
    pub service: String,
    /// What is wrong, in one phrase (e.g. a rule name: readinessProbeMissing).
    pub violation: String,
    /// The specifics, one text each.
    #[serde(default)]
    pub specifics: Vec<String>,
    /// What happens if it ships as it is.
    #[serde(default)]
    pub impact: String,
    /// What must be true before it may ship.
    #[serde(default)]
    pub requirement: String,
    /// What the addressee must do.
    #[serde(default)]
    pub action_needed: String,
    /// The role (or agent) the veto is addressed to (default planner).
    #[serde(default)]
    pub to: Option<String>,
    /// Stop the service's deploys until an approve (default true).
    #[serde(default)]
    pub blocking: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionApproveArgs {
    /// The service approved: every blocking veto standing on it is cleared.
    pub service: String,
    /// What was checked and why it may ship.
    #[serde(default)]
    pub summary: String,
    /// The role (or agent) the approval is addressed to (default operator).
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveDeploymentArgs {
    /// The service whose deploy waits for approval, or SERVICE@ENV (e.g. web@production).
    pub service: String,
    /// What was checked and why it may ship.
    #[serde(default)]
    pub summary: String,
}

#[tool_router(router = decision_router, vis = "pub(crate)")]
impl Gantry {
    #[tool(
        description = "The decision log: every approve and veto between agents (from, to, subject, violation, specifics, impact, requirement, blocking, action_needed, and which approve cleared which veto), of one service when named.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn decisions(
        &self,
        Parameters(a): Parameters<DecisionsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let path = match &a.service {
            Some(s) => format!("/v1/decisions?service={}", segment(s)),
            None => "/v1/decisions".to_string(),
        };
        let token = self.token(&ctx)?;
        let log = self
            .api
            .get(&token, &path)
            .await
            .map_err(|f| failed("decisions", f))?;
        Ok(answer(json!({ "decisions": log })))
    }

    #[tool(
        description = "Veto a service as this session's role (recorded in the decision log, signed with the role's key); a blocking veto refuses its deploys until a verifier or operator approves (`decision_approve`). For a pipeline checkpoint use `veto`.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn decision_veto(
        &self,
        Parameters(a): Parameters<DecisionVetoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let mut body = json!({"service": a.service, "violation": a.violation,
            "specifics": a.specifics, "impact": a.impact, "requirement": a.requirement,
            "action_needed": a.action_needed});
        if let Some(to) = a.to {
            body["to"] = json!(to);
        }
        if let Some(b) = a.blocking {
            body["blocking"] = json!(b);
        }
        self.post("decision_veto", &ctx, "/v1/decisions/veto", body)
            .await
            .map(answer)
    }

    #[tool(
        description = "Approve a service as this session's role (verifier or operator), clearing every blocking veto standing on it; answers the vetoes cleared. For a deploy waiting for its environment's approval use `approve_deployment`.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn decision_approve(
        &self,
        Parameters(a): Parameters<DecisionApproveArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let mut body = json!({"service": a.service, "summary": a.summary});
        if let Some(to) = a.to {
            body["to"] = json!(to);
        }
        self.post("decision_approve", &ctx, "/v1/decisions/approve", body)
            .await
            .map(answer)
    }

    #[tool(
        description = "Grant the approval a deploy waiting in awaiting_approval needs (service or service@env), as this session's role, which must be the role the environment's approval names; the deployment then starts.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn approve_deployment(
        &self,
        Parameters(a): Parameters<ApproveDeploymentArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post(
            "approve_deployment",
            &ctx,
            &format!("/v1/services/{}/approve", segment(&a.service)),
            json!({"summary": a.summary}),
        )
        .await
        .map(answer)
    }
}
