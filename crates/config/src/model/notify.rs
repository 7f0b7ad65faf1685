//! Notification channels (`notify:`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Spanned;

/// One notification channel, written as a mapping with one key:
///
/// ```yaml
/// notify:
///   - slack: { webhook_env: SLACK_WEBHOOK_URL }
///   - discord: { webhook_env: DISCORD_WEBHOOK_URL }
///   - webhook: { url_env: HOOK_URL, headers: { X-Team: sre } }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Notifier {
    /// A Slack incoming webhook.
    Slack(SlackLike),
    /// A Discord webhook.
    Discord(SlackLike),
    /// A generic JSON webhook (POST).
    Webhook(Spanned<Webhook>),
}

/// A chat webhook whose URL (a secret) comes from an environment variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackLike {
    /// Name of the environment variable holding the webhook URL.
    pub webhook_env: String,
}

/// A generic webhook: exactly one of `url` or `url_env`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The URL, written in the config.
    #[serde(default)]
    pub url: Option<String>,
    /// Name of an environment variable holding the URL (for URLs that embed a secret).
    #[serde(default)]
    pub url_env: Option<String>,
    /// Extra HTTP headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}
