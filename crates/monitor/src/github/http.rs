//! GitHub REST requests with the documented headers, retried on rate limits (403/429 with
//! `Retry-After`, or `x-ratelimit-remaining: 0` with `x-ratelimit-reset`) and on 5xx, with
//! backoff.

use std::time::Duration;

use serde_json::Value;

/// The REST API version gantry speaks.
pub const API_VERSION: &str = "2022-11-28";

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub: {0}")]
    Config(String),
    #[error("GitHub {method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },
    #[error("GitHub {method} {url} answered {status}: {message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "GitHub {method} {url}: still rate-limited after {attempts} attempts; retry after {wait_secs}s"
    )]
    RateLimited {
        method: String,
        url: String,
        attempts: u32,
        wait_secs: u64,
    },
    #[error("GitHub answered something unexpected: {0}")]
    Protocol(String),
}

/// How retries wait: `first` doubled each time for 5xx, a rate limit's own wait (capped
/// at `max_wait`) for 403/429; at most `attempts` tries per request.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max_wait: Duration,
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            max_wait: Duration::from_secs(120),
            attempts: 4,
        }
    }
}

pub(crate) struct Api {
    client: reqwest::Client,
    token: String,
    backoff: Backoff,
}

pub(crate) struct Answer {
    pub body: Value,
    pub next: Option<String>,
}

enum Retry {
    RateLimit(Duration),
    Server,
}

impl Api {
    pub(crate) fn new(token: &str, backoff: Backoff) -> Result<Api, GithubError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("gantry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GithubError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Api {
            client,
            token: token.to_string(),
            backoff,
        })
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Answer, GithubError> {
        let mut delay = self.backoff.first;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .client
                .request(method.clone(), url)
                .bearer_auth(&self.token)
                .header(reqwest::header::ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", API_VERSION);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let transport = |e: reqwest::Error| GithubError::Transport {
                method: method.to_string(),
                url: url.to_string(),
                message: e.to_string(),
            };
            let answer = req.send().await.map_err(transport)?;
            let status = answer.status().as_u16();
            let headers = answer.headers().clone();
            let text = answer.text().await.map_err(transport)?;
            let retry = match status {
                200..=299 => {
                    let body = serde_json::from_str(&text).map_err(|e| {
                        GithubError::Protocol(format!("{method} {url}: not JSON: {e}"))
                    })?;
                    let next = headers
                        .get(reqwest::header::LINK)
                        .and_then(|v| v.to_str().ok())
                        .and_then(super::link::next);
                    return Ok(Answer { body, next });
                }
                403 | 429 => match rate_limit_wait(&headers, std::time::SystemTime::now()) {
                    Some(wait) => Retry::RateLimit(wait),
                    // A 403 without rate-limit headers is a permission problem: no retry.
                    None => return Err(status_error(&method, url, status, &text)),
                },
                500..=599 => Retry::Server,
                _ => return Err(status_error(&method, url, status, &text)),
            };
            let wait = match retry {
                Retry::RateLimit(w) => w,
                Retry::Server => {
                    let d = delay;
                    delay = delay.saturating_mul(2);
                    d
                }
            };
            if attempt >= self.backoff.attempts {
                return Err(match retry {
                    Retry::RateLimit(w) => GithubError::RateLimited {
                        method: method.to_string(),
                        url: url.to_string(),
                        attempts: attempt,
                        wait_secs: w.as_secs(),
                    },
                    Retry::Server => status_error(&method, url, status, &text),
                });
            }
            tokio::time::sleep(wait.min(self.backoff.max_wait)).await;
        }
    }
}

fn status_error(method: &reqwest::Method, url: &str, status: u16, text: &str) -> GithubError {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| text.chars().take(200).collect());
    GithubError::Status {
        method: method.to_string(),
        url: url.to_string(),
        status,
        message,
    }
}

/// How long a rate-limited answer asks to wait: `Retry-After` seconds first, else the
/// time until `x-ratelimit-reset` when `x-ratelimit-remaining` is 0 (as GitHub documents
/// for primary and secondary limits). `None`: not a rate limit.
fn rate_limit_wait(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(secs) = get("retry-after").and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if get("x-ratelimit-remaining").map(str::trim) == Some("0") {
        let reset = get("x-ratelimit-reset")?.trim().parse::<u64>().ok()?;
        let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn rate_limits_are_read_from_retry_after_or_the_reset_time() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut h = HeaderMap::new();
        assert_eq!(rate_limit_wait(&h, now), None);
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1030"));
        assert_eq!(rate_limit_wait(&h, now), Some(Duration::from_secs(30)));
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(rate_limit_wait(&h, now), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("12"));
        assert_eq!(rate_limit_wait(&h, now), None);
    }
}
