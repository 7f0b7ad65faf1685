//! The git branch and commit of the project, when it is in a repository.

use std::path::Path;

use crate::report::Git;

/// Asks `git` (absent git or no repository: `None`).
#[must_use]
pub fn describe(root: &Path) -> Option<Git> {
    let run = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = run(&["rev-parse", "--short=12", "HEAD"])?;
    let branch = run(&["symbolic-ref", "--short", "-q", "HEAD"]);
    Some(Git { branch, commit })
}

/// The CI run's URL from GitHub Actions' environment, if set.
#[must_use]
pub fn run_url(env: &std::collections::BTreeMap<String, String>) -> Option<String> {
    let server = env.get("GITHUB_SERVER_URL")?;
    let repo = env.get("GITHUB_REPOSITORY")?;
    let id = env.get("GITHUB_RUN_ID")?;
    Some(format!("{server}/{repo}/actions/runs/{id}"))
}
