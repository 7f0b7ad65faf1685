//! Semantic checks run after the YAML is read: each problem is a located
//! [`ConfigError::Invalid`].

mod access;
mod analysis_prometheus;
mod environments;
mod monitor;
mod paths;
mod pipeline;
mod policy;
mod router;
mod scaling;
mod secrets;
mod service;
mod smoke;
pub(crate) mod status;
mod tools;
mod unsupported;
mod warnings;

pub use secrets::MIN_SECRET_CHARS;
pub use smoke::{SmokeCheck, SmokeTarget};
pub use tools::{SHELL_WORDS, first_program};
pub use warnings::{Warning, warnings};

use std::collections::BTreeMap;

use crate::error::{Located, SourceFile};
use crate::{Config, ConfigError, Pos};

/// Collects problems; they are reported in file order.
pub(crate) struct Problems<'a> {
    file: &'a SourceFile,
    list: Vec<Located>,
}

impl Problems<'_> {
    /// Records a problem at `pos`: `code` is the stable kind, `label` the short text under
    /// the caret, `message` the full sentence.
    pub fn add(&mut self, pos: Pos, code: &'static str, label: &str, message: String) {
        self.list
            .push(Located::new(self.file, pos, code, label, message));
    }
}

/// Every semantic problem in `config`, sorted by position. `env` is the process
/// environment, for checks of values gantry.yaml only names (declared secrets).
pub(crate) fn validate(
    config: &Config,
    file: &SourceFile,
    env: &BTreeMap<String, String>,
) -> Vec<ConfigError> {
    let mut p = Problems {
        file,
        list: Vec::new(),
    };
    for (role, agent) in &config.agents {
        if agent.manual && agent.command.is_some() {
            p.add(
                agent.pos,
                "gantry::config::agent_mode",
                "both command and manual",
                format!(
                    "agent for role '{role}' sets both `command` and `manual: true`; choose one"
                ),
            );
        }
    }
    service::check_services(config, &mut p);
    pipeline::check_pipelines(config, &mut p);
    paths::check_paths(config, &mut p);
    secrets::check_secrets(config, env, &mut p);
    monitor::check_monitor(config, env, &mut p);
    monitor::check_notify(config, &mut p);
    monitor::check_alerts(config, &mut p);
    access::check_access(config, &mut p);
    access::check_budgets(config, &mut p);
    policy::check_policy(config, &mut p);
    tools::check_tools(config, &mut p);
    analysis_prometheus::check(config, &mut p);
    environments::check_environments(config, &mut p);
    status::check(config, env, &mut p);
    unsupported::check(config, &mut p);

    let mut list = p.list;
    list.sort_by_key(|l| (l.line, l.column));
    list.into_iter()
        .map(|l| ConfigError::Invalid(Box::new(l)))
        .collect()
}

/// `" (did you mean 'x'?)"` when a candidate is close to `name`, else `""`.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}

/// `a, b, c`, or `none` when empty.
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.into_iter().collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions each cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("deploy", "deplyo"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            did_you_mean("bild", ["build", "test"]),
            " (did you mean 'build'?)"
        );
        assert_eq!(did_you_mean("xyz", ["build"]), "");
    }
}
