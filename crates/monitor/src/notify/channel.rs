//! The channels as `gantry serve` runs them: `notify:` resolved against the environment.

use std::collections::BTreeMap;

use gantry_config::{Config, Notifier, NotifySeverity as Severity};

use super::NotifyError;
use super::group::Timing;

/// Which service a channel posts to; decides the payload's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Slack,
    Discord,
    Webhook,
}

/// One channel, ready to post to.
#[derive(Clone, Debug, PartialEq)]
pub struct Channel {
    pub name: String,
    pub kind: Kind,
    /// A secret when it came from the environment: never logged, never in the report.
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub min_severity: Severity,
    pub timing: Timing,
}

impl Kind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Slack => "slack",
            Kind::Discord => "discord",
            Kind::Webhook => "webhook",
        }
    }
}

/// The channels of `config` for a report made without `gantry serve`: what they are, not
/// how their deliveries went (only serve knows).
#[must_use]
pub fn configured(config: &Config) -> Vec<crate::report::ChannelState> {
    let names = gantry_config::channel_names(&config.notify);
    config
        .notify
        .iter()
        .zip(names)
        .map(|(n, name)| crate::report::ChannelState {
            name,
            kind: match &n.value {
                Notifier::Slack(_) => Kind::Slack,
                Notifier::Discord(_) => Kind::Discord,
                Notifier::Webhook(_) => Kind::Webhook,
            }
            .as_str()
            .into(),
            min_severity: n.settings().min_severity.as_str().into(),
            last: "not known (gantry serve tracks deliveries)".into(),
            last_at: None,
            failing: None,
            sent: 0,
            failed: 0,
            dropped: 0,
        })
        .collect()
}

impl Channel {
    /// How the report names it: `slack (slack, warn and above)`.
    #[must_use]
    pub fn describe(&self) -> String {
        let kind = self.kind.as_str();
        format!(
            "{} ({kind}, {} and above)",
            self.name,
            self.min_severity.as_str()
        )
    }
}

/// The channels of `config`, with URLs read from `env`.
pub fn channels(
    config: &Config,
    env: &BTreeMap<String, String>,
) -> Result<Vec<Channel>, NotifyError> {
    each(config, env).into_iter().collect()
}

/// Every channel of `config` on its own, so one without its URL does not silence the
/// others (a process that sends once cannot refuse to start as `gantry serve` does).
pub fn each(config: &Config, env: &BTreeMap<String, String>) -> Vec<Result<Channel, NotifyError>> {
    let names = gantry_config::channel_names(&config.notify);
    config
        .notify
        .iter()
        .zip(names)
        .map(|(n, name)| resolve(n, name, env))
        .collect()
}

fn resolve(
    n: &gantry_config::Spanned<Notifier>,
    name: String,
    env: &BTreeMap<String, String>,
) -> Result<Channel, NotifyError> {
    let from_env = |var: &str| {
        env.get(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_string())
            .ok_or_else(|| NotifyError::MissingUrl {
                channel: name.clone(),
                var: var.to_string(),
            })
    };
    let (kind, url, headers) = match &n.value {
        Notifier::Slack(s) => (Kind::Slack, from_env(&s.webhook_env)?, BTreeMap::new()),
        Notifier::Discord(s) => (Kind::Discord, from_env(&s.webhook_env)?, BTreeMap::new()),
        Notifier::Webhook(w) => {
            let url = match (&w.url, &w.url_env) {
                (Some(u), _) => u.clone(),
                (None, Some(var)) => from_env(var)?,
                (None, None) => {
                    return Err(NotifyError::MissingUrl {
                        channel: name.clone(),
                        var: "url".into(),
                    });
                }
            };
            (Kind::Webhook, url, w.headers.clone())
        }
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(NotifyError::BadUrl { channel: name });
    }
    let s = n.settings();
    let d = Timing::default();
    let pick =
        |v: &Option<gantry_config::Spanned<gantry_config::Duration>>,
         default: std::time::Duration| { v.as_ref().map_or(default, |d| d.as_std()) };
    Ok(Channel {
        timing: Timing {
            group_wait: pick(&s.grouping.group_wait, d.group_wait),
            group_interval: pick(&s.grouping.group_interval, d.group_interval),
            repeat_interval: pick(&s.grouping.repeat_interval, d.repeat_interval),
        },
        min_severity: s.min_severity,
        name,
        kind,
        url,
        headers,
    })
}
