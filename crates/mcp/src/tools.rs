//! The tools: one per operation of the control plane, each one API call with the session's
//! token (deploy and rollback with `wait` follow the deployment and report progress).

use std::time::{Duration, Instant};

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::catalog;
use crate::client::Failure;
use crate::server::{Gantry, refusal};

/// A tool's answer: the API's JSON object, unchanged.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Answer {
    #[serde(flatten)]
    pub body: Map<String, Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceArgs {
    /// A service of gantry.yaml (`services:`).
    pub service: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Rolling,
    BlueGreen,
    Canary,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployArgs {
    /// A service of gantry.yaml.
    pub service: String,
    /// A release of the service (a key of its `releases:`).
    pub version: String,
    /// Override the service's strategy for this deploy.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Follow the deployment until it ends (progress notifications on the way) and answer
    /// its final status, with the analysis figures if it was rolled back.
    #[serde(default)]
    pub wait: bool,
    /// With `wait`: give up following after this many seconds (default 600); the
    /// deployment goes on.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteArgs {
    pub service: String,
    /// Skip every remaining step: all traffic to the new version now.
    #[serde(default)]
    pub full: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackArgs {
    pub service: String,
    /// The version to return to (default: the previous one).
    #[serde(default)]
    pub to: Option<String>,
    /// Only say what a rollback would do; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Follow the rollback until it ends, with progress notifications.
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentArgs {
    /// A deployment id, e.g. `web-3`.
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerShowArgs {
    /// Only kinds starting with this prefix (e.g. `deployment.`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Only entries by this role.
    #[serde(default)]
    pub role: Option<String>,
    /// The last N matching entries (default 50, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

pub(crate) fn answer(v: Value) -> Json<Answer> {
    Json(Answer {
        body: match v {
            Value::Object(m) => m,
            other => Map::from_iter([("value".to_string(), other)]),
        },
    })
}

/// The API's error for `tool`; a missing permission is named as the tool's permission.
pub(crate) fn failed(tool: &str, f: Failure) -> CallToolResult {
    let mut v = f.to_json();
    if v["error"]["status"] == 403
        && let Some(info) = catalog::find(tool)
    {
        v["error"]["permission"] = json!(info.permission);
    }
    refusal(v)
}

/// Encodes one path segment (service names are plain, but the agent may send anything).
pub(crate) fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Gantry {
    pub(crate) async fn get(
        &self,
        tool: &str,
        ctx: &RequestContext<RoleServer>,
        path: &str,
    ) -> Result<Json<Answer>, CallToolResult> {
        let token = self.token(ctx)?;
        self.api
            .get(&token, path)
            .await
            .map(answer)
            .map_err(|f| failed(tool, f))
    }

    pub(crate) async fn post(
        &self,
        tool: &str,
        ctx: &RequestContext<RoleServer>,
        path: &str,
        body: Value,
    ) -> Result<Value, CallToolResult> {
        let token = self.token(ctx)?;
        self.api
            .post(&token, path, body, self.agent_tokens(ctx))
            .await
            .map_err(|f| failed(tool, f))
    }

    /// Follows deployment `id` until it ends; each new timeline line is a progress
    /// notification when the caller asked for progress.
    async fn follow(
        &self,
        tool: &str,
        ctx: &RequestContext<RoleServer>,
        id: &str,
        timeout: Option<u64>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let token = self.token(ctx)?;
        let progress = ctx.meta.get_progress_token();
        let deadline = Instant::now() + Duration::from_secs(timeout.unwrap_or(600));
        let mut sent = 0usize;
        loop {
            let status = self
                .api
                .get(&token, &format!("/v1/deployments/{}", segment(id)))
                .await
                .map_err(|f| failed(tool, f))?;
            let timeline = status["timeline"].as_array().cloned().unwrap_or_default();
            if let Some(p) = &progress {
                for e in timeline.iter().skip(sent) {
                    sent += 1;
                    let text = e["text"].as_str().unwrap_or_default().to_string();
                    let mut note =
                        ProgressNotificationParam::new(p.clone(), sent as f64).with_message(text);
                    if let Some(steps) = status["steps"].as_u64() {
                        note = note.with_total((steps as f64).max(sent as f64));
                    }
                    // A client that went away only misses the progress, not the result.
                    let _ = ctx.peer.notify_progress(note).await;
                }
            }
            if done(&status) {
                return Ok(answer(status));
            }
            if Instant::now() >= deadline {
                return Err(refusal(json!({"error": {
                    "code": "timeout",
                    "message": format!("deployment {id} had not ended when the wait ran out; it goes on"),
                    "hint": "follow it with the `deployment` tool",
                    "deployment": status,
                }})));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Whether a deployment has ended (as `gantry deploy --wait` decides).
fn done(status: &Value) -> bool {
    match status["phase"].as_str().unwrap_or_default() {
        "succeeded" | "rolled_back" | "aborted" => true,
        "failed" => status["from"].is_null(),
        _ => false,
    }
}

#[tool_router(vis = "pub(crate)")]
impl Gantry {
    #[tool(
        description = "The status report: OPERATIONAL / DEGRADED / CRITICAL with its reasons, health and commands.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn status(
        &self,
        _: Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.get("status", &ctx, "/v1/status").await
    }

    #[tool(
        description = "Services, instances, versions, traffic weights, health and running deployments.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn ps(
        &self,
        _: Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.get("ps", &ctx, "/v1/ps").await
    }

    #[tool(
        description = "One deployment's status and timeline (also from before the last restart).",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn deployment(
        &self,
        Parameters(a): Parameters<DeploymentArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.get(
            "deployment",
            &ctx,
            &format!("/v1/deployments/{}", segment(&a.id)),
        )
        .await
    }

    #[tool(
        description = "Deploy a release of a service (also: update one component) with its strategy (rolling, blue-green, canary); analysis rolls a bad release back automatically. With wait: follow it to the end, with progress.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn deploy(
        &self,
        Parameters(a): Parameters<DeployArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let strategy = a.strategy.map(|s| match s {
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen => "blue_green",
            Strategy::Canary => "canary",
        });
        let started = self
            .post(
                "deploy",
                &ctx,
                &format!("/v1/services/{}/deploy", segment(&a.service)),
                json!({"version": a.version, "strategy": strategy}),
            )
            .await?;
        if !a.wait {
            return Ok(answer(started));
        }
        let id = started["id"].as_str().unwrap_or_default().to_string();
        self.follow("deploy", &ctx, &id, a.timeout_seconds).await
    }

    #[tool(
        description = "End the current pause of a service's deployment and go to the next step; full skips every remaining step.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn promote(
        &self,
        Parameters(a): Parameters<PromoteArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post(
            "promote",
            &ctx,
            &format!("/v1/services/{}/promote", segment(&a.service)),
            json!({"full": a.full}),
        )
        .await
        .map(answer)
    }

    #[tool(
        description = "Pause a service's running deployment (analysis goes on).",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn pause(
        &self,
        Parameters(a): Parameters<ServiceArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post(
            "pause",
            &ctx,
            &format!("/v1/services/{}/pause", segment(&a.service)),
            json!({}),
        )
        .await
        .map(answer)
    }

    #[tool(
        description = "Resume a deployment an operator paused.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn resume(
        &self,
        Parameters(a): Parameters<ServiceArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post(
            "resume",
            &ctx,
            &format!("/v1/services/{}/resume", segment(&a.service)),
            json!({}),
        )
        .await
        .map(answer)
    }

    #[tool(
        description = "Abort a service's running deployment: all traffic back to the stable version.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn abort(
        &self,
        Parameters(a): Parameters<ServiceArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post(
            "abort",
            &ctx,
            &format!("/v1/services/{}/abort", segment(&a.service)),
            json!({}),
        )
        .await
        .map(answer)
    }

    #[tool(
        description = "Return a service to its previous version (or `to`); dry_run says what would happen and changes nothing. With wait: follow it to the end, with progress.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn rollback(
        &self,
        Parameters(a): Parameters<RollbackArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let out = self
            .post(
                "rollback",
                &ctx,
                &format!("/v1/services/{}/rollback", segment(&a.service)),
                json!({"to": a.to, "dry_run": a.dry_run}),
            )
            .await?;
        match out["deployment"]["id"].as_str() {
            Some(id) if a.wait && !a.dry_run => {
                let id = id.to_string();
                self.follow("rollback", &ctx, &id, a.timeout_seconds).await
            }
            _ => Ok(answer(out)),
        }
    }

    #[tool(
        description = "Emergency stop: every service answers 503 and every instance stops (status CRITICAL) until `start`.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn emergency_stop(
        &self,
        _: Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post(
            "emergency_stop",
            &ctx,
            "/v1/control/emergency-stop",
            json!({}),
        )
        .await
        .map(answer)
    }

    #[tool(
        description = "End an emergency stop: every service's stable version starts again.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn start(
        &self,
        _: Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post("start", &ctx, "/v1/control/start", json!({}))
            .await
            .map(answer)
    }

    #[tool(
        description = "Ledger entries, newest last: filter by kind prefix and role, the last N.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn ledger_show(
        &self,
        Parameters(a): Parameters<LedgerShowArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let mut query = Vec::new();
        if let Some(k) = &a.kind {
            query.push(format!("kind={}", segment(k)));
        }
        if let Some(r) = &a.role {
            query.push(format!("role={}", segment(r)));
        }
        if let Some(n) = a.limit {
            query.push(format!("limit={n}"));
        }
        self.get(
            "ledger_show",
            &ctx,
            &format!("/v1/ledger?{}", query.join("&")),
        )
        .await
    }

    #[tool(
        description = "Verify the whole ledger: chain, hashes, signatures, key validity and seals; ok false names the first bad entry.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn ledger_verify(
        &self,
        _: Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        self.post("ledger_verify", &ctx, "/v1/ledger/verify", json!({}))
            .await
            .map(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_in_the_catalog_with_its_hints_schema_and_output_schema() {
        let tools = Gantry::all_tools().list_all();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort();
        let mut listed: Vec<&str> = catalog::TOOLS.iter().map(|t| t.name).collect();
        listed.sort();
        assert_eq!(names, listed);
        for t in &tools {
            let info = catalog::find(&t.name).unwrap();
            let a = t.annotations.as_ref().expect("annotations");
            assert_eq!(a.read_only_hint, Some(info.read_only), "{}", t.name);
            assert!(
                a.destructive_hint.is_some() && a.idempotent_hint.is_some(),
                "{}",
                t.name
            );
            assert_eq!(
                t.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                t.name
            );
            assert!(t.output_schema.is_some(), "{} has no output schema", t.name);
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("web"), "web");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
