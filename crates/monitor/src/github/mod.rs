//! The status report kept in one GitHub issue: found by label and title through the
//! issues list (never the search API, which is rate-limited and lags), created once,
//! its body updated when the report changes, reopened if someone closed it.
//!
//! The API base comes from `GITHUB_API_URL` (GitHub Enterprise), default
//! `https://api.github.com`.

mod http;
mod link;

pub use http::{Backoff, GithubError};

use serde_json::{Value, json};

/// Where the issue lives and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueTarget {
    /// API base, without a trailing slash.
    pub api: String,
    /// `owner/name`.
    pub repo: String,
    pub token: String,
    pub label: String,
    pub title: String,
}

impl IssueTarget {
    /// From `status.github`, with the token and API base from `env`.
    pub fn from_config(
        config: &gantry_config::Config,
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<IssueTarget>, crate::MonitorError> {
        let Some(gh) = &config.status.github else {
            return Ok(None);
        };
        let token = env
            .get(gh.token_env.as_str())
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                crate::MonitorError::Github(format!(
                    "the token variable {} is not set",
                    gh.token_env.value
                ))
            })?;
        Ok(Some(IssueTarget {
            api: gantry_config::github_api_base(env),
            repo: gh.repo.value.clone(),
            token: token.trim().to_string(),
            label: gh.label.clone(),
            title: gh
                .title
                .clone()
                .unwrap_or_else(|| format!("gantry status: {}", config.project)),
        }))
    }
}

/// What one sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// The body was already there: no request sent.
    Unchanged,
    Created {
        number: u64,
    },
    Updated {
        number: u64,
    },
    /// It had been closed: reopened with the new body.
    Reopened {
        number: u64,
    },
}

/// Keeps one issue in step with the report; remembers the issue and the last body sent.
pub struct StatusIssue {
    target: IssueTarget,
    http: http::Api,
    number: Option<u64>,
    sent: Option<String>,
}

impl StatusIssue {
    pub fn new(target: IssueTarget, backoff: Backoff) -> Result<StatusIssue, GithubError> {
        Ok(StatusIssue {
            http: http::Api::new(&target.token, backoff)?,
            target,
            number: None,
            sent: None,
        })
    }

    fn issues_url(&self) -> String {
        format!("{}/repos/{}/issues", self.target.api, self.target.repo)
    }

    /// Makes the issue's body `body` (and the issue open), creating it the first time.
    pub async fn sync(&mut self, body: &str) -> Result<Synced, GithubError> {
        if self.sent.as_deref() == Some(body) {
            return Ok(Synced::Unchanged);
        }
        let found = match self.number {
            Some(n) => Some((n, None)),
            None => self.find().await?,
        };
        let synced = match found {
            None => {
                let created = self
                    .http
                    .send(
                        reqwest::Method::POST,
                        &self.issues_url(),
                        Some(json!({"title": self.target.title, "body": body, "labels": [self.target.label]})),
                    )
                    .await?;
                let number = number_of(&created.body)?;
                Synced::Created { number }
            }
            Some((number, state)) => {
                let url = format!("{}/{number}", self.issues_url());
                let updated = self
                    .http
                    .send(
                        reqwest::Method::PATCH,
                        &url,
                        Some(json!({"body": body, "state": "open"})),
                    )
                    .await?;
                let was_closed = state.as_deref() == Some("closed");
                match (
                    was_closed,
                    updated.body.get("state").and_then(Value::as_str),
                ) {
                    (true, _) => Synced::Reopened { number },
                    _ => Synced::Updated { number },
                }
            }
        };
        self.number = Some(match synced {
            Synced::Created { number }
            | Synced::Updated { number }
            | Synced::Reopened { number } => number,
            Synced::Unchanged => unreachable!("handled above"),
        });
        self.sent = Some(body.to_string());
        Ok(synced)
    }

    /// The issue with our title and label (open or closed), following `Link: rel="next"`
    /// and skipping pull requests: (number, state).
    async fn find(&self) -> Result<Option<(u64, Option<String>)>, GithubError> {
        let mut url = reqwest::Url::parse(&self.issues_url())
            .map_err(|e| GithubError::Config(format!("bad API URL '{}': {e}", self.target.api)))?;
        url.query_pairs_mut()
            .append_pair("labels", &self.target.label)
            .append_pair("state", "all")
            .append_pair("per_page", "100");
        let mut next = Some(url.to_string());
        // A runaway Link chain must not loop forever.
        let mut pages = 0;
        while let Some(page) = next.take() {
            pages += 1;
            if pages > 100 {
                return Err(GithubError::Protocol(
                    "more than 100 pages of issues with the label".into(),
                ));
            }
            let answer = self.http.send(reqwest::Method::GET, &page, None).await?;
            let items = answer.body.as_array().ok_or_else(|| {
                GithubError::Protocol("the issues list is not a JSON array".into())
            })?;
            for item in items {
                if item.get("pull_request").is_some() {
                    continue;
                }
                if item.get("title").and_then(Value::as_str) == Some(self.target.title.as_str()) {
                    let state = item.get("state").and_then(Value::as_str).map(String::from);
                    return Ok(Some((number_of(item)?, state)));
                }
            }
            next = answer.next;
        }
        Ok(None)
    }
}

fn number_of(issue: &Value) -> Result<u64, GithubError> {
    issue
        .get("number")
        .and_then(Value::as_u64)
        .ok_or_else(|| GithubError::Protocol("an issue without a number".into()))
}
