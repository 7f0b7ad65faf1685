//! Errors of the monitoring crate.

/// What can go wrong setting up monitoring (probing itself never errors: a failed probe is
/// a result).
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// A target's URL, address or timeout does not resolve (`gantry check` names where).
    #[error("monitor target '{target}' `{field}`: {message}")]
    Target {
        target: String,
        field: &'static str,
        message: String,
    },
    /// The cron schedule does not parse.
    #[error("monitor schedule '{schedule}': {message}")]
    Schedule { schedule: String, message: String },
    /// The GitHub status issue cannot be kept (no token, bad settings).
    #[error("status.github: {0}")]
    Github(String),
    /// The HTTP client could not be built.
    #[error("cannot build the probe HTTP client: {0}")]
    Client(String),
    /// A notification channel cannot be set up.
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}
