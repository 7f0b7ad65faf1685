//! Checks of `status.github`: a repository `owner/name`, an environment variable name for
//! the token, and an http(s) API base (`GITHUB_API_URL`).

use std::collections::BTreeMap;

use super::Problems;
use crate::Config;

pub(super) fn check(config: &Config, env: &BTreeMap<String, String>, p: &mut Problems<'_>) {
    let Some(gh) = &config.status.github else {
        return;
    };
    let repo = &gh.repo;
    let parts: Vec<&str> = repo.split('/').collect();
    if parts.len() != 2
        || parts
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        p.add(
            repo.pos,
            "gantry::config::github",
            "owner/name",
            format!("`status.github.repo` '{}' is not owner/name", repo.value),
        );
    }
    let var = &gh.token_env;
    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        p.add(
            var.pos,
            "gantry::config::github",
            "variable name",
            format!(
                "`status.github.token_env` '{}' is not an environment variable name (the token itself never goes in gantry.yaml)",
                var.value
            ),
        );
    }
    let api = api_base(env);
    if !(api.starts_with("http://") || api.starts_with("https://")) {
        p.add(
            gh.pos,
            "gantry::config::github",
            "API base",
            format!(
                "`status.github`: the API base '{api}' (GITHUB_API_URL) is not an http:// or https:// URL"
            ),
        );
    }
}

/// The GitHub API base: `GITHUB_API_URL` without a trailing slash, or the public API.
#[must_use]
pub fn api_base(env: &BTreeMap<String, String>) -> String {
    env.get("GITHUB_API_URL")
        .map(|s| s.trim().trim_end_matches('/').to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "https://api.github.com".into())
}
