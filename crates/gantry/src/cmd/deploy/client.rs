//! The CLI side of the control-plane API: finds the server (`.gantry/serve.json`, or
//! `GANTRY_URL`), presents the admin token (`GANTRY_TOKEN`, or `.gantry/admin.token`), maps
//! API errors to exit codes.

use std::time::Duration;

use serde_json::Value;

use crate::exit;
use crate::project::Project;

pub const SERVE_FILE: &str = "serve.json";

pub struct Client {
    base: String,
    token: String,
    token_source: super::token::Source,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Client {
    pub fn connect(project: &Project) -> anyhow::Result<Client> {
        let base = match std::env::var("GANTRY_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                let path = project.gantry_dir().join(SERVE_FILE);
                let text = std::fs::read_to_string(&path).map_err(|_| {
                    exit::with_code(exit::UNAVAILABLE, format!(
                        "the control plane is not running in {} (no {}); start it with `gantry serve` or `gantry serve --detach`",
                        project.root.display(),
                        path.display()
                    ))
                })?;
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| exit::failed(format!("{} is not valid: {e}", path.display())))?;
                v["url"].as_str().unwrap_or_default().to_string()
            }
        };
        let (token, token_source) =
            super::token::read(&project.gantry_dir()).map_err(exit::usage)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            token_source,
            http,
            rt,
        })
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.base)))
    }

    pub fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(&body))
    }

    fn call(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let req = req.bearer_auth(&self.token);
        self.rt.block_on(async {
            let resp = req.send().await.map_err(|e| {
                exit::with_code(
                    exit::UNAVAILABLE,
                    format!(
                        "cannot reach the control plane at {}: {e}; is `gantry serve` running?",
                        self.base
                    ),
                )
            })?;
            let status = resp.status();
            let retry = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(body);
            }
            // `{"error": {"code", "message", "hint"}}`; the code decides, the status is the
            // fallback for anything else that answers (a proxy, an older control plane).
            let error = &body["error"];
            let msg = error["message"]
                .as_str()
                .or_else(|| error.as_str())
                .map_or_else(
                    || format!("the control plane answered {status}"),
                    str::to_string,
                );
            let code = match error["code"].as_str() {
                Some("bad_request") => 400,
                Some("unauthorized") => 401,
                Some("forbidden" | "refused") => 403,
                Some("not_found") => 404,
                Some("conflict") => 409,
                // The policy gate's refusal fails the deploy (exit 1), as `gantry policy
                // check` fails on the same lines.
                Some("policy_refused") => 1,
                Some("unavailable") => 503,
                Some("budget_exceeded") => 429,
                _ => status.as_u16(),
            };
            // The API's hint travels as the error's own hint (printed once after the
            // message, or as `hint` with `--json`), via `with_api_error` below.
            let err = match code {
                400 | 404 => exit::usage(msg),
                401 => exit::with_code(
                    exit::REFUSED,
                    format!(
                        "the control plane at {} refused the token from {}: {msg}",
                        self.base, self.token_source
                    ),
                ),
                403 => exit::with_code(exit::REFUSED, msg),
                409 => exit::with_code(exit::CONFLICT, msg),
                1 => exit::failed(msg),
                // A role's budget is spent: refused like a missing permission, until it resets.
                429 => exit::with_code(
                    exit::REFUSED,
                    match retry {
                        Some(secs) => format!("{msg} (retry after {secs}s)"),
                        None => msg,
                    },
                ),
                503 => exit::with_code(
                    exit::UNAVAILABLE,
                    match retry {
                        Some(secs) => format!("{msg} (retry after {secs}s)"),
                        None => msg,
                    },
                ),
                _ => exit::failed(msg),
            };
            Err(exit::with_api_error(err, &body))
        })
    }

    /// Follows a server-sent event stream (`/v1/events`), handing each event's `data` (a
    /// JSON document) to `each`, until the stream ends.
    pub fn follow_events(&self, path: &str, mut each: impl FnMut(Value)) -> anyhow::Result<()> {
        self.rt.block_on(async {
            let mut resp = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                // A stream lasts as long as it is watched, not the API calls' timeout.
                .timeout(Duration::from_secs(365 * 24 * 3600))
                .send()
                .await
                .map_err(|e| {
                    exit::with_code(
                        exit::UNAVAILABLE,
                        format!("cannot reach the control plane at {}: {e}", self.base),
                    )
                })?;
            if !resp.status().is_success() {
                return Err(exit::failed(format!(
                    "the control plane answered {} to {path}",
                    resp.status()
                )));
            }
            let mut pending = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                pending.extend_from_slice(&chunk);
                while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    let line = String::from_utf8_lossy(&line);
                    if let Some(data) = line.trim_end().strip_prefix("data:")
                        && let Ok(v) = serde_json::from_str::<Value>(data.trim_start())
                    {
                        each(v);
                    }
                }
            }
            Ok(())
        })
    }
}
