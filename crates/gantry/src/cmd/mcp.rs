//! `gantry mcp [--read-only]`: the MCP server on stdio. It reaches the running control
//! plane (`.gantry/serve.json`, or `GANTRY_URL`) with `GANTRY_TOKEN` (else
//! `.gantry/admin.token`, as every CLI command), and checks that token once at start so
//! an agent learns at once that the server is down or the token is wrong.

use clap::Args;
use serde_json::Value;

use super::deploy::{client::SERVE_FILE, token};
use crate::exit;
use crate::project::Project;

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Offer only the tools that read (status, ps, deployment, runs, logs, ledger), whatever the
    /// token's role may do
    #[arg(long)]
    pub read_only: bool,
}

pub fn run(project: &Project, args: &McpArgs) -> anyhow::Result<()> {
    let base = api_base(project)?;
    let (token, source) = token::read(&project.gantry_dir()).map_err(exit::usage)?;
    let api = gantry_mcp::ApiClient::new(&base).map_err(exit::failed)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if let Err(f) = api.get(&token, "/v1/whoami").await {
            let e = f.to_json();
            let msg = e["error"]["message"]
                .as_str()
                .unwrap_or("refused")
                .to_string();
            return Err(match f {
                gantry_mcp::Failure::Unreachable(_) => exit::with_code(exit::UNAVAILABLE, msg),
                gantry_mcp::Failure::Api { .. } => exit::with_code(
                    exit::REFUSED,
                    format!("the control plane at {base} refused the token from {source}: {msg}"),
                ),
            });
        }
        let server = gantry_mcp::Gantry::new(
            api,
            gantry_mcp::Session::Token(token.into()),
            args.read_only,
            project.config_path(),
        );
        gantry_mcp::serve_stdio(server).await.map_err(exit::failed)
    })
}

/// The API's root URL: `GANTRY_URL`, else the address `gantry serve` wrote.
fn api_base(project: &Project) -> anyhow::Result<String> {
    if let Ok(url) = std::env::var("GANTRY_URL")
        && !url.is_empty()
    {
        return Ok(url);
    }
    let path = project.gantry_dir().join(SERVE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        exit::with_code(
            exit::UNAVAILABLE,
            format!(
                "the control plane is not running in {} (no {}); start it with `gantry serve --detach`",
                project.root.display(),
                path.display()
            ),
        )
    })?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| exit::failed(format!("{} is not valid: {e}", path.display())))?;
    Ok(v["url"].as_str().unwrap_or_default().to_string())
}
