//! Keeps the GitHub status issue in step with the report, off the monitor's path: the
//! latest report waits in a watch channel (older ones are skipped, never queued), and a
//! slow or rate-limited GitHub delays nothing but this task.

use std::collections::BTreeMap;

use gantry_monitor::github::{Backoff, IssueTarget, StatusIssue};
use tokio::sync::watch;

pub(crate) fn start(
    config: &gantry_config::Config,
    env: &BTreeMap<String, String>,
) -> Result<Option<watch::Sender<String>>, gantry_monitor::MonitorError> {
    let Some(target) = IssueTarget::from_config(config, env)? else {
        return Ok(None);
    };
    let where_ = format!("{} ({})", target.repo, target.api);
    let mut issue = StatusIssue::new(target, Backoff::default())
        .map_err(|e| gantry_monitor::MonitorError::Github(e.to_string()))?;
    let (tx, mut rx) = watch::channel(String::new());
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let body = rx.borrow_and_update().clone();
            match issue.sync(&body).await {
                Ok(done) => tracing::info!(repo = %where_, ?done, "status issue"),
                Err(e) => {
                    tracing::warn!(repo = %where_, error = %e, "cannot update the status issue")
                }
            }
        }
    });
    Ok(Some(tx))
}
