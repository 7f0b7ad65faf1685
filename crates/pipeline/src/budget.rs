//! Budgets: files changed in the working tree (git) against a count and a touched-paths
//! allowlist. Time is enforced by the engine's deadline and tokens by summing agent answers.

use std::collections::BTreeSet;
use std::path::Path;

use gantry_config::Budget;

use crate::error::PipelineError;
use crate::glob;

/// Paths changed in the working tree (tracked changes and untracked files), per git.
pub fn changed_paths(root: &Path) -> Result<BTreeSet<String>, PipelineError> {
    let out = std::process::Command::new("git")
        .args(["status", "--porcelain=v1", "-z", "--untracked-files=all"])
        .current_dir(root)
        .output()
        .map_err(|e| PipelineError::Git(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(PipelineError::Git(format!(
            "`git status` failed in {}: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut paths = BTreeSet::new();
    let mut fields = out.stdout.split(|&b| b == 0);
    while let Some(field) = fields.next() {
        if field.len() < 4 {
            continue;
        }
        let status = &field[..2];
        paths.insert(String::from_utf8_lossy(&field[3..]).into_owned());
        // Renames and copies carry the old path as the next field.
        if status.contains(&b'R') || status.contains(&b'C') {
            fields.next();
        }
    }
    Ok(paths)
}

/// Whether the budget needs git at all.
#[must_use]
pub fn watches_files(budget: &Budget) -> bool {
    budget.files.is_some() || !budget.paths.is_empty()
}

/// Checks the files changed since `baseline` (paths already dirty when the run started are
/// not the run's doing). gantry's own files (`.gantry/`, the outcomes report) never count.
/// Returns the reason the budget is exceeded, if it is.
#[must_use]
pub fn check_files(
    budget: &Budget,
    baseline: &BTreeSet<String>,
    now: &BTreeSet<String>,
    own: &[String],
) -> Option<(String, String)> {
    let changed: Vec<&String> = now
        .iter()
        .filter(|p| !baseline.contains(*p))
        .filter(|p| !p.starts_with(".gantry/") && !own.iter().any(|o| o == *p))
        .collect();
    if !budget.paths.is_empty() {
        let outside: Vec<&str> = changed
            .iter()
            .filter(|p| !budget.paths.iter().any(|g| glob::matches(g, p)))
            .map(|p| p.as_str())
            .collect();
        if !outside.is_empty() {
            return Some((
                "paths".to_string(),
                format!(
                    "changed paths outside the allowlist [{}]: {}",
                    budget.paths.join(", "),
                    outside.join(", ")
                ),
            ));
        }
    }
    if let Some(limit) = budget.files
        && changed.len() > limit as usize
    {
        return Some((
            "files".to_string(),
            format!(
                "{} files changed, budget {limit}: {}",
                changed.len(),
                changed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn files_and_paths() {
        let budget = Budget {
            files: Some(1),
            paths: vec!["deploy/**".into()],
            ..Budget::default()
        };
        let base = set(&["old.txt"]);
        assert_eq!(
            check_files(
                &budget,
                &base,
                &set(&["old.txt", "deploy/a", ".gantry/ledger.jsonl"]),
                &[]
            ),
            None
        );
        let (kind, detail) = check_files(&budget, &base, &set(&["src/x.rs"]), &[]).unwrap();
        assert_eq!(kind, "paths");
        assert!(detail.contains("src/x.rs"));
        let (kind, _) = check_files(&budget, &base, &set(&["deploy/a", "deploy/b"]), &[]).unwrap();
        assert_eq!(kind, "files");
    }
}
