//! Notification channels (`notify:`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::units::Duration;

/// One notification channel, written as a mapping with one key:
///
/// ```yaml
/// notify:
///   - slack: { webhook_env: SLACK_WEBHOOK_URL, min_severity: warn }
///   - discord: { webhook_env: DISCORD_WEBHOOK_URL, min_severity: error }
///   - webhook: { url_env: HOOK_URL, headers: { X-Team: sre }, group_wait: 10s }
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

/// How urgent a notification is; a channel gets those at or above its `min_severity`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum NotifySeverity {
    /// Worth knowing (an emergency stop lifted, a recovery).
    #[default]
    Info,
    /// Someone should look (a DEGRADED status, a vetoed checkpoint, a manual rollback).
    Warn,
    /// Act now (CRITICAL, an automatic rollback, a failed deployment or pipeline).
    Error,
}

impl NotifySeverity {
    /// The written name (`info`, `warn`, `error`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            NotifySeverity::Info => "info",
            NotifySeverity::Warn => "warn",
            NotifySeverity::Error => "error",
        }
    }
}

/// Grouping and de-duplication, as Alertmanager's route settings: the first message of a
/// group waits `group_wait` for more of the same; a changed group is sent again at most
/// every `group_interval` (and a condition counts as resolved once it stayed so that long);
/// an unchanged firing group is repeated every `repeat_interval`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grouping {
    /// Default 30s.
    #[serde(default)]
    pub group_wait: Option<Spanned<Duration>>,
    /// Default 5m.
    #[serde(default)]
    pub group_interval: Option<Spanned<Duration>>,
    /// Default 4h.
    #[serde(default)]
    pub repeat_interval: Option<Spanned<Duration>>,
}

/// A chat webhook (Slack, Discord) whose URL, a secret, comes from an environment variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackLike {
    /// Name of the environment variable holding the webhook URL.
    pub webhook_env: String,
    /// The channel's name in the report and metrics (default: its kind, numbered when
    /// several share it).
    #[serde(default)]
    pub name: Option<String>,
    /// Notifications below this are not sent here (default `info`: all).
    #[serde(default)]
    pub min_severity: NotifySeverity,
    #[serde(default)]
    pub group_wait: Option<Spanned<Duration>>,
    #[serde(default)]
    pub group_interval: Option<Spanned<Duration>>,
    #[serde(default)]
    pub repeat_interval: Option<Spanned<Duration>>,
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
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub min_severity: NotifySeverity,
    #[serde(default)]
    pub group_wait: Option<Spanned<Duration>>,
    #[serde(default)]
    pub group_interval: Option<Spanned<Duration>>,
    #[serde(default)]
    pub repeat_interval: Option<Spanned<Duration>>,
}

/// What every channel kind has in common, read from whichever kind it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSettings<'a> {
    /// `slack`, `discord` or `webhook`.
    pub kind: &'static str,
    pub name: Option<&'a str>,
    pub min_severity: NotifySeverity,
    pub grouping: Grouping,
}

impl Notifier {
    /// The settings shared by every kind.
    #[must_use]
    pub fn settings(&self) -> ChannelSettings<'_> {
        let (kind, name, min, wait, interval, repeat) = match self {
            Notifier::Slack(s) | Notifier::Discord(s) => (
                if matches!(self, Notifier::Slack(_)) {
                    "slack"
                } else {
                    "discord"
                },
                s.name.as_deref(),
                s.min_severity,
                &s.group_wait,
                &s.group_interval,
                &s.repeat_interval,
            ),
            Notifier::Webhook(w) => (
                "webhook",
                w.name.as_deref(),
                w.min_severity,
                &w.group_wait,
                &w.group_interval,
                &w.repeat_interval,
            ),
        };
        ChannelSettings {
            kind,
            name,
            min_severity: min,
            grouping: Grouping {
                group_wait: wait.clone(),
                group_interval: interval.clone(),
                repeat_interval: repeat.clone(),
            },
        }
    }
}

/// The channels' names, in `notify:` order: the written `name`, else the kind, numbered
/// (`webhook-2`) when several of a kind have no name.
#[must_use]
pub fn channel_names(notify: &[Spanned<Notifier>]) -> Vec<String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    notify
        .iter()
        .map(|n| {
            let s = n.settings();
            if let Some(name) = s.name {
                return name.to_string();
            }
            let count = seen.entry(s.kind).or_insert(0);
            *count += 1;
            if *count == 1 {
                s.kind.to_string()
            } else {
                format!("{}-{count}", s.kind)
            }
        })
        .collect()
}
