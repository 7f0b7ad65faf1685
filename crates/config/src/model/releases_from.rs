//! Releases from git (`releases_from:`): every tag matching a pattern is a deployable
//! version, built once in its own worktree.

use serde::{Deserialize, Serialize};

/// Where versions come from besides `releases:`.
///
/// ```yaml
/// releases_from:
///   git: { tags: "v*", build: "make", artifact: bin/web, run: "{dir}/bin/web --port {port}" }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasesFrom {
    pub git: GitReleases,
}

/// Tags of a git repository as versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitReleases {
    /// The repository, relative to the project root. Default: the project root itself.
    #[serde(default = "here")]
    pub repo: String,
    /// Which tags are versions: a `git tag --list` pattern, e.g. `"v*"`.
    pub tags: String,
    /// Shell command that builds a tag, run once in its worktree `.gantry/builds/<tag>`.
    pub build: String,
    /// The file the build makes (relative to the worktree); its sha256 goes in the ledger.
    pub artifact: String,
    /// Command line that starts one instance of a tag; `{dir}` is its worktree, `{port}`
    /// the instance's port.
    pub run: String,
}

fn here() -> String {
    ".".into()
}
