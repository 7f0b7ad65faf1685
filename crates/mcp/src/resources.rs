//! The resources: the status report, the current config, recent deployments.

use rmcp::ErrorData;
use rmcp::model::{ReadResourceResult, Resource, ResourceContents};

use crate::server::{Gantry, failure_error};

pub const STATUS: &str = "gantry://status";
pub const CONFIG: &str = "gantry://config";
pub const DEPLOYMENTS: &str = "gantry://deployments";

pub fn list() -> Vec<Resource> {
    [
        (
            STATUS,
            "status",
            "The status report (JSON): OPERATIONAL / DEGRADED / CRITICAL and why",
            "application/json",
        ),
        (
            CONFIG,
            "config",
            "The current gantry.yaml",
            "application/yaml",
        ),
        (
            DEPLOYMENTS,
            "deployments",
            "The last 50 deployment entries of the ledger (JSON)",
            "application/json",
        ),
    ]
    .into_iter()
    .map(|(uri, name, what, mime)| {
        Resource::new(uri, name)
            .with_description(what)
            .with_mime_type(mime)
    })
    .collect()
}

pub async fn read(g: &Gantry, token: &str, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let json = |v: serde_json::Value| {
        ReadResourceResult::new(vec![
            ResourceContents::text(v.to_string(), uri).with_mime_type("application/json"),
        ])
    };
    match uri {
        STATUS => g
            .api
            .get(token, "/v1/status")
            .await
            .map(json)
            .map_err(|f| failure_error(&f)),
        DEPLOYMENTS => g
            .api
            .get(token, "/v1/ledger?kind=deployment.&limit=50")
            .await
            .map(json)
            .map_err(|f| failure_error(&f)),
        CONFIG => {
            // Only a token the control plane knows reads the config.
            g.api
                .get(token, "/v1/whoami")
                .await
                .map_err(|f| failure_error(&f))?;
            let text = tokio::fs::read_to_string(g.config_file.as_path())
                .await
                .map_err(|e| {
                    ErrorData::internal_error(
                        format!("cannot read {}: {e}", g.config_file.display()),
                        None,
                    )
                })?;
            Ok(ReadResourceResult::new(vec![
                ResourceContents::text(text, uri).with_mime_type("application/yaml"),
            ]))
        }
        other => Err(ErrorData::resource_not_found(
            format!("no resource '{other}'; resources: {STATUS}, {CONFIG}, {DEPLOYMENTS}"),
            None,
        )),
    }
}
