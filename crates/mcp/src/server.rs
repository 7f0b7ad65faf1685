//! The MCP server: who the session is, which tools it sees, and the resources and prompts.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, GetPromptRequestParams, GetPromptResult, Implementation,
    ListPromptsResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResult, ServerCapabilities, ServerInfo, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::catalog;
use crate::client::{ApiClient, Failure};

/// Where a session's bearer token comes from.
#[derive(Debug, Clone)]
pub enum Session {
    /// One token for the whole session (`gantry mcp` on stdio, from `GANTRY_TOKEN`).
    Token(Arc<str>),
    /// Each request's own `Authorization` header (streamable HTTP under `gantry serve`,
    /// which has already checked it).
    PerRequest,
}

/// gantry as an MCP server.
#[derive(Clone)]
pub struct Gantry {
    pub(crate) api: Arc<ApiClient>,
    session: Session,
    /// `gantry mcp --read-only`: only tools that read, whatever the token may do.
    pub(crate) read_only: bool,
    /// gantry.yaml, for the config resource and the prompts' commands.
    pub(crate) config_file: Arc<PathBuf>,
    pub(crate) tool_router: ToolRouter<Gantry>,
}

/// A tool's refusal or failure, as the agent gets it: `isError` with the API's error
/// object (`code`, `message`, `hint`, and `permission` when a permission is missing).
pub(crate) fn refusal(error: Value) -> CallToolResult {
    CallToolResult::structured_error(error)
}

impl Gantry {
    pub fn new(api: ApiClient, session: Session, read_only: bool, config_file: PathBuf) -> Gantry {
        Gantry {
            api: Arc::new(api),
            session,
            read_only,
            config_file: Arc::new(config_file),
            tool_router: Gantry::all_tools(),
        }
    }

    /// Every tool: the operations ([`crate::tools`]), the pipeline tools
    /// ([`crate::pipeline_tools`]) and the decision-log tools ([`crate::decision_tools`]).
    pub(crate) fn all_tools() -> ToolRouter<Gantry> {
        Gantry::tool_router() + Gantry::pipeline_router() + Gantry::decision_router()
    }

    /// The bearer token of this request.
    pub(crate) fn token(&self, ctx: &RequestContext<RoleServer>) -> Result<String, CallToolResult> {
        match &self.session {
            Session::Token(t) => Ok(t.to_string()),
            Session::PerRequest => ctx
                .extensions
                .get::<http::request::Parts>()
                .and_then(|p| p.headers.get(http::header::AUTHORIZATION))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_string()))
                .ok_or_else(|| {
                    refusal(json!({"error": {"code": "unauthorized",
                        "message": "this MCP request carries no bearer token",
                        "hint": "send `Authorization: Bearer TOKEN` with every request to /mcp"}}))
                }),
        }
    }

    /// Agent tokens the caller reports for this call (agent budgets, `tokens_per_day`):
    /// the `X-Gantry-Agent-Tokens` header of an HTTP request, or `_meta` field
    /// `gantry/agent_tokens` of the tool call.
    pub(crate) fn agent_tokens(&self, ctx: &RequestContext<RoleServer>) -> Option<u64> {
        let from_meta = ctx.meta.get("gantry/agent_tokens").and_then(Value::as_u64);
        from_meta.or_else(|| {
            ctx.extensions
                .get::<http::request::Parts>()
                .and_then(|p| p.headers.get(crate::client::AGENT_TOKENS_HEADER))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// The permissions of the session's token, as the control plane reports them.
    async fn permissions(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Vec<String>, ErrorData> {
        let token = self.token(ctx).map_err(|r| protocol_error(&r))?;
        let me = self
            .api
            .get(&token, "/v1/whoami")
            .await
            .map_err(|f| protocol_error(&refusal(f.to_json())))?;
        Ok(me["permissions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// For requests that have no `isError` result (lists, resources, prompts): the API's error
/// as a JSON-RPC error with the same object as its data.
pub(crate) fn protocol_error(r: &CallToolResult) -> ErrorData {
    let data = r.structured_content.clone().unwrap_or(Value::Null);
    let message = data["error"]["message"]
        .as_str()
        .unwrap_or("refused")
        .to_string();
    ErrorData::invalid_request(message, Some(data))
}

pub(crate) fn failure_error(f: &Failure) -> ErrorData {
    protocol_error(&refusal(f.to_json()))
}

impl ServerHandler for Gantry {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("gantry", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "gantry's control plane: status, deployments (deploy, promote, pause, resume, abort, \
             rollback), emergency stop and start, pipeline runs and their checkpoints (run_pipeline, \
             runs, logs, sign_checkpoint, veto), the decision log between agents (decisions, decision_veto, \
             decision_approve, approve_deployment), the evidence ledger. Tools list only what this \
             token's role may call; every call is in the ledger under that role.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let permissions = self.permissions(&ctx).await?;
        let tools = self
            .tool_router
            .list_all()
            .into_iter()
            .filter(|t| {
                catalog::find(&t.name)
                    .is_some_and(|info| catalog::visible(info, &permissions, self.read_only))
            })
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        if let Some(info) = catalog::find(&request.name)
            && self.read_only
            && !info.read_only
        {
            return Ok(refusal(json!({"error": {
                "code": "forbidden",
                "message": format!("tool '{}' changes things and this MCP server runs with --read-only", info.name),
                "hint": "run `gantry mcp` without --read-only, with a token whose role holds the permission",
                "permission": info.permission,
            }})));
        }
        self.tool_router
            .call(ToolCallContext::new(self, request, ctx))
            .await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_router.get(name).cloned()
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(crate::resources::list()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResult, ErrorData> {
        let token = self.token(&ctx).map_err(|r| protocol_error(&r))?;
        crate::resources::read(self, &token, &request.uri).await
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(crate::prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResult, ErrorData> {
        // A valid token reads the checklists, as it reads the config they come from.
        self.permissions(&ctx).await?;
        crate::prompts::get(&self.config_file, &request.name, request.arguments.as_ref())
    }
}
