//! Notifications: which ledger entries are worth one ([`events`]), grouping and
//! de-duplication as a pure state machine ([`group`]), the request bodies Slack, Discord
//! and generic webhooks take ([`payload`]), the channels from `notify:` ([`channel`]) and
//! their delivery, off the control plane's path ([`deliver`]), or at once from a process
//! that is not the control plane ([`direct`]).

pub mod channel;
pub mod deliver;
pub mod direct;
pub mod events;
pub mod group;
pub mod payload;

pub use channel::{Channel, Kind, channels};
pub use deliver::{ChannelHealth, Notifier};
pub use group::{Alert, Event, Grouper, Notification, State, Timing};

/// What can be wrong with a channel before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The variable holding a webhook URL is not set.
    #[error(
        "notification channel '{channel}': environment variable {var} is not set (it holds the webhook URL)"
    )]
    MissingUrl { channel: String, var: String },
    /// The URL is not http(s); the URL itself is not shown, it may be a secret.
    #[error("notification channel '{channel}': the webhook URL is not an http:// or https:// URL")]
    BadUrl { channel: String },
    /// The HTTP client could not be built.
    #[error("cannot build the notification HTTP client: {0}")]
    Client(String),
}
