//! gantry's MCP server (Model Context Protocol, with the official `rmcp` SDK): the
//! control plane's operations as tools, its status report, config and recent deployments
//! as resources, and the checklists agents ask for most as prompts.
//!
//! Thin by design: every tool is one call (or, for `wait`, a few) of the control plane's
//! HTTP API with the session's bearer token, so the API's permission checks, budgets,
//! `access.denied` entries and role attribution apply to MCP exactly as to the CLI. The
//! same server runs on stdio (`gantry mcp`) and as streamable HTTP at `/mcp` under
//! `gantry serve` ([`http`]), where each request's own `Authorization` header is forwarded.

mod catalog;
mod client;
mod decision_tools;
mod error;
pub mod http;
mod pipeline_tools;
mod prompts;
mod resources;
mod server;
mod stdio;
mod tools;

pub use catalog::{TOOLS, ToolInfo};
pub use client::{AGENT_TOKENS_HEADER, ApiClient, Failure};
pub use error::McpError;
pub use server::{Gantry, Session};
pub use stdio::serve_stdio;
