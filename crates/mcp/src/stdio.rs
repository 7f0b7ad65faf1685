//! `gantry mcp`: one MCP session on stdin/stdout, for the agent that started it.

use rmcp::ServiceExt;

use crate::{Gantry, McpError};

/// Serves `server` on stdio until the client closes the session.
pub async fn serve_stdio(server: Gantry) -> Result<(), McpError> {
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| McpError::Session(e.to_string()))?;
    Ok(())
}
