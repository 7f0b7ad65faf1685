//! Status report settings (`status:`): where the report is kept besides `gantry serve`'s
//! own files.

use serde::{Deserialize, Serialize};

use crate::Spanned;

/// ```yaml
/// status:
///   github: { repo: acme/shop, token_env: GITHUB_TOKEN, label: gantry-status, title: "Shop status" }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusSettings {
    /// Keep the report in one GitHub issue (found by label and title, created once,
    /// updated on change, reopened if closed). The API base is `GITHUB_API_URL`.
    #[serde(default)]
    pub github: Option<Spanned<GithubStatus>>,
}

/// The GitHub status issue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubStatus {
    /// `owner/name`.
    pub repo: Spanned<String>,
    /// The environment variable holding the token (never the token itself). Default:
    /// `GITHUB_TOKEN`.
    #[serde(default = "default_token_env")]
    pub token_env: Spanned<String>,
    /// The label that marks the issue. Default: `gantry-status`.
    #[serde(default = "default_label")]
    pub label: String,
    /// The issue's title. Default: `gantry status: <project>`.
    #[serde(default)]
    pub title: Option<String>,
}

fn default_token_env() -> Spanned<String> {
    Spanned::new("GITHUB_TOKEN".into())
}

fn default_label() -> String {
    "gantry-status".into()
}
