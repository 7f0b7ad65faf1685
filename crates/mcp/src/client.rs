//! The control plane's HTTP API as the MCP tools call it: JSON in and out, the bearer
//! token of the session, errors kept whole (`{"error": {code, message, hint}}`) so a tool
//! can hand them to the agent unchanged.

use std::time::Duration;

use serde_json::{Value, json};

use crate::McpError;

/// The header an agent's reported token use travels in (agent budgets, `tokens_per_day`).
pub const AGENT_TOKENS_HEADER: &str = "x-gantry-agent-tokens";

#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
}

/// Why an API call did not answer 2xx.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No answer at all (the control plane is not running, or the connection broke).
    Unreachable(String),
    /// The API answered an error: its status and its JSON body.
    Api { status: u16, body: Value },
}

impl Failure {
    /// The error as a tool result carries it: the API's own `error` object, plus the
    /// HTTP status.
    pub fn to_json(&self) -> Value {
        match self {
            Failure::Unreachable(why) => json!({"error": {
                "code": "unavailable",
                "message": why,
                "hint": "start the control plane with `gantry serve --detach`, or set GANTRY_URL",
                "status": 503,
            }}),
            Failure::Api { status, body } => {
                let mut error = match &body["error"] {
                    Value::Object(o) => Value::Object(o.clone()),
                    _ => {
                        json!({"code": "internal", "message": format!("the control plane answered {status}"), "hint": ""})
                    }
                };
                error["status"] = json!(status);
                json!({ "error": error })
            }
        }
    }
}

impl ApiClient {
    /// `base` is the API's root, e.g. `http://127.0.0.1:7700`.
    pub fn new(base: &str) -> Result<ApiClient, McpError> {
        let base = base.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .map_err(|source| McpError::Client {
                base: base.clone(),
                source,
            })?;
        Ok(ApiClient { base, http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, token: &str, path: &str) -> Result<Value, Failure> {
        self.send(self.http.get(format!("{}{path}", self.base)), token, None)
            .await
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        body: Value,
        agent_tokens: Option<u64>,
    ) -> Result<Value, Failure> {
        let req = self.http.post(format!("{}{path}", self.base)).json(&body);
        self.send(req, token, agent_tokens).await
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        token: &str,
        agent_tokens: Option<u64>,
    ) -> Result<Value, Failure> {
        let mut req = req.bearer_auth(token);
        if let Some(n) = agent_tokens {
            req = req.header(AGENT_TOKENS_HEADER, n.to_string());
        }
        let resp = req.send().await.map_err(|e| {
            Failure::Unreachable(format!(
                "cannot reach the control plane at {}: {e}",
                self.base
            ))
        })?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Failure::Api { status, body })
        }
    }
}
