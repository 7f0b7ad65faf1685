//! Streamable HTTP for `/mcp` under `gantry serve`. The control plane's auth has checked
//! the bearer token before a request gets here; each tool call forwards that same header
//! to the API on loopback, so refusals, budgets and the ledger work as for any API call.
//! Host is checked against loopback names and Origin (when a browser sends one) against
//! the API's own loopback origins: a web page elsewhere cannot drive it (DNS rebinding).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::{ApiClient, Gantry, McpError, Session};

pub type Service = StreamableHttpService<Gantry, LocalSessionManager>;

/// The `/mcp` service for a control plane whose API listens on `addr`.
pub fn service(addr: SocketAddr, config_file: PathBuf) -> Result<Service, McpError> {
    let api = ApiClient::new(&format!("http://{addr}"))?;
    let port = addr.port();
    let config = StreamableHttpServerConfig::default().with_allowed_origins([
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ]);
    Ok(StreamableHttpService::new(
        move || {
            Ok(Gantry::new(
                api.clone(),
                Session::PerRequest,
                false,
                config_file.clone(),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        config,
    ))
}
