//! Delivery off the control plane's path: one task per channel with a bounded queue. The
//! control plane only ever `try_send`s (a full queue drops and counts the event), so a
//! receiver that hangs delays nothing but its own channel. Each message is retried with
//! backoff on timeouts, connection errors, 429 (honouring `Retry-After`) and 5xx.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use super::channel::{Channel, Kind};
use super::group::{Event, Grouper, Notification};
use super::{NotifyError, payload};

/// Events a channel holds while it delivers; more are dropped (and counted).
pub const QUEUE: usize = 1024;
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per message.
pub const ATTEMPTS: u32 = 4;
/// The longest wait between attempts (also for a receiver's `Retry-After`).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a channel has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelHealth {
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
    /// Why the last message failed, until one is delivered again.
    pub failing: Option<String>,
    /// The last message's outcome (`sent`, `failed`) and when (RFC 3339).
    pub last: Option<(String, String)>,
}

/// Called with (channel, outcome) for every message: `sent`, `failed`, `dropped`.
pub type OnOutcome = Arc<dyn Fn(&str, &str) + Send + Sync>;

struct Shared {
    health: Mutex<BTreeMap<String, ChannelHealth>>,
    /// Woken when a channel starts or stops failing.
    changed: Notify,
    on_outcome: OnOutcome,
}

impl Shared {
    fn update(&self, channel: &str, f: impl FnOnce(&mut ChannelHealth)) {
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let entry = h.entry(channel.to_string()).or_default();
        let was = entry.failing.is_some();
        f(entry);
        if was != entry.failing.is_some() {
            self.changed.notify_one();
        }
    }
}

/// The running channels.
pub struct Notifier {
    queues: Vec<(String, mpsc::Sender<(Event, Instant)>)>,
    described: Vec<String>,
    /// Name, kind and minimum severity of each channel, in config order.
    kinds: Vec<(String, Kind, gantry_config::NotifySeverity)>,
    shared: Arc<Shared>,
}

impl Notifier {
    /// Starts one task per channel (on the current tokio runtime).
    pub fn start(
        project: &str,
        channels: Vec<Channel>,
        on_outcome: OnOutcome,
    ) -> Result<Notifier, NotifyError> {
        let http = client()?;
        let shared = Arc::new(Shared {
            health: Mutex::new(
                channels
                    .iter()
                    .map(|c| (c.name.clone(), ChannelHealth::default()))
                    .collect(),
            ),
            changed: Notify::new(),
            on_outcome,
        });
        let mut queues = Vec::new();
        let described = channels.iter().map(Channel::describe).collect();
        let kinds = channels
            .iter()
            .map(|c| (c.name.clone(), c.kind, c.min_severity))
            .collect();
        for channel in channels {
            let (tx, rx) = mpsc::channel(QUEUE);
            queues.push((channel.name.clone(), tx));
            let task = Task {
                grouper: Grouper::new(channel.timing, channel.min_severity),
                channel,
                project: project.to_string(),
                http: http.clone(),
                shared: Arc::clone(&shared),
            };
            tokio::spawn(task.run(rx));
        }
        Ok(Notifier {
            queues,
            described,
            kinds,
            shared,
        })
    }

    /// Hands `event` to every channel without waiting.
    pub fn send(&self, event: &Event) {
        let now = Instant::now();
        for (name, q) in &self.queues {
            if q.try_send((event.clone(), now)).is_err() {
                (self.shared.on_outcome)(name, "dropped");
                self.shared.update(name, |h| h.dropped += 1);
            }
        }
    }

    /// `channel: why` for every channel whose last message failed.
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        let h = self.shared.health.lock().unwrap_or_else(|e| e.into_inner());
        h.iter()
            .filter_map(|(name, h)| {
                h.failing
                    .as_ref()
                    .map(|why| format!("channel {name} failing: {why}"))
            })
            .collect()
    }

    /// Each channel's counts.
    #[must_use]
    pub fn health(&self) -> BTreeMap<String, ChannelHealth> {
        self.shared
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Each channel with its last delivery, for the report.
    #[must_use]
    pub fn states(&self) -> Vec<crate::report::ChannelState> {
        let health = self.health();
        self.kinds
            .iter()
            .map(|(name, kind, min)| {
                let h = health.get(name).cloned().unwrap_or_default();
                let (last, last_at) = match h.last {
                    Some((outcome, at)) => (outcome, Some(at)),
                    None => ("nothing sent yet".into(), None),
                };
                crate::report::ChannelState {
                    name: name.clone(),
                    kind: kind.as_str().into(),
                    min_severity: min.as_str().into(),
                    last,
                    last_at,
                    failing: h.failing,
                    sent: h.sent,
                    failed: h.failed,
                    dropped: h.dropped,
                }
            })
            .collect()
    }

    /// The channels as the report lists them.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        self.described.clone()
    }

    /// Resolves when a channel starts or stops failing.
    pub async fn changed(&self) {
        self.shared.changed.notified().await;
    }
}

struct Task {
    channel: Channel,
    project: String,
    http: reqwest::Client,
    grouper: Grouper,
    shared: Arc<Shared>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<(Event, Instant)>) {
        loop {
            let wake = self.grouper.next_due();
            tokio::select! {
                got = rx.recv() => {
                    let Some((event, at)) = got else { return };
                    self.grouper.take(event, at);
                    // Take what else is queued before looking at what is due.
                    while let Ok((event, at)) = rx.try_recv() {
                        self.grouper.take(event, at);
                    }
                }
                () = sleep_until(wake) => {}
            }
            for n in self.grouper.due(Instant::now()) {
                self.deliver(&n).await;
            }
        }
    }

    async fn deliver(&self, n: &Notification) {
        let body = body(&self.channel, &self.project, n);
        let mut backoff = Duration::from_secs(1);
        let mut why = String::new();
        for attempt_no in 1..=ATTEMPTS {
            let mut wait = backoff;
            match attempt(&self.http, &self.channel, &body, ATTEMPT_TIMEOUT).await {
                Ok(()) => {
                    (self.shared.on_outcome)(&self.channel.name, "sent");
                    self.shared.update(&self.channel.name, |h| {
                        h.sent += 1;
                        h.failing = None;
                        h.last = Some(("sent".into(), now_rfc3339()));
                    });
                    return;
                }
                Err(f) => {
                    why = f.why;
                    if let Some(after) = f.retry_after {
                        wait = after.min(MAX_BACKOFF);
                    }
                    if !f.retry {
                        break;
                    }
                }
            }
            if attempt_no < ATTEMPTS {
                tracing::warn!(channel = %self.channel.name, attempt = attempt_no, %why, "notification not delivered; retrying");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        tracing::warn!(channel = %self.channel.name, %why, "notification not delivered");
        (self.shared.on_outcome)(&self.channel.name, "failed");
        self.shared.update(&self.channel.name, |h| {
            h.failed += 1;
            h.failing = Some(why);
            h.last = Some(("failed".into(), now_rfc3339()));
        });
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The request body `channel` takes for `n`.
pub(crate) fn body(channel: &Channel, project: &str, n: &Notification) -> serde_json::Value {
    let at = now_rfc3339();
    match channel.kind {
        Kind::Slack => payload::slack(project, n, &at),
        Kind::Discord => payload::discord(project, n, &at),
        Kind::Webhook => payload::webhook(project, n, &at),
    }
}

/// Why one attempt failed, and whether another may do better.
pub(crate) struct Failure {
    pub why: String,
    /// Timeouts, connection errors, 429 and 5xx; not another 4xx (a revoked webhook, a
    /// bad body will not get better).
    pub retry: bool,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
}

/// One POST of `body` to `channel`, bounded by `timeout`.
pub(crate) async fn attempt(
    http: &reqwest::Client,
    channel: &Channel,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<(), Failure> {
    let mut req = http.post(&channel.url).json(body).timeout(timeout);
    for (k, v) in &channel.headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => {
            let status = resp.status();
            Err(Failure {
                why: format!("the receiver answered {status}"),
                retry: !status.is_client_error() || status.as_u16() == 429,
                retry_after: retry_after(&resp),
            })
        }
        Err(e) if e.is_timeout() => Err(Failure {
            why: format!("no answer within {}", seconds(timeout)),
            retry: true,
            retry_after: None,
        }),
        Err(e) => Err(Failure {
            why: format!("cannot connect: {}", without_url(e)),
            retry: true,
            retry_after: None,
        }),
    }
}

/// `10s`, `4.5s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.1}s")
    }
}

/// The client every channel posts with. TLS goes through the system's OpenSSL and its
/// trust store, so `SSL_CERT_FILE` / `SSL_CERT_DIR` name a private CA; verification is
/// never turned off.
pub(crate) fn client() -> Result<reqwest::Client, NotifyError> {
    reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Client(e.to_string()))
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// `Retry-After` in seconds, or Discord's JSON `retry_after` is left to the backoff.
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The error without its URL: webhook URLs are secrets.
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}
