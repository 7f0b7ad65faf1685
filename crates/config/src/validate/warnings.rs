//! Warnings: a gantry.yaml that loads but will hurt at run time (a release whose command is
//! not there, a service nothing watches). Unlike problems they do not stop a command.

use std::path::Path;

use crate::{Config, Pos};

/// One located warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub pos: Pos,
    /// Stable kind, e.g. `gantry::config::run_not_found`.
    pub code: &'static str,
    pub message: String,
}

/// Shell words that are not programs to look up.
const SHELL_WORDS: &[&str] = &[
    "exec", "cd", ".", "source", "set", "export", "eval", "true", "false", ":", "if", "for",
    "while", "case", "{", "(", "!",
];

/// Warnings for `config`, in file order. `root` is the project directory (releases run
/// there, through `sh -c`); `path` is the `PATH` they run with.
#[must_use]
pub fn warnings(config: &Config, root: &Path, path: Option<&str>) -> Vec<Warning> {
    let mut out = Vec::new();
    for (name, service) in &config.services {
        for (version, release) in &service.releases {
            if let Some(program) = first_program(&release.run)
                && !found(program, root, path)
            {
                let why = if program.contains('/') {
                    format!("there is no executable file {program}")
                } else {
                    format!("`{program}` is not on PATH")
                };
                out.push(Warning {
                    pos: release.run.pos,
                    code: "gantry::config::run_not_found",
                    message: format!(
                        "release '{version}' of service '{name}' will not start: {why}"
                    ),
                });
            }
        }
        let health = &service.health;
        let watched = health.readiness.is_some()
            || health.liveness.is_some()
            || health.startup.is_some()
            || service.analysis.is_some();
        if !watched {
            out.push(Warning {
                pos: service.pos,
                code: "gantry::config::unwatched",
                message: format!(
                    "service '{name}' has neither health checks nor analysis: a new version gets \
                     traffic once its port accepts connections and is never rolled back by \
                     itself; add `health: {{ readiness: {{ http: /health }} }}` or `analysis:`"
                ),
            });
        }
    }
    out.sort_by_key(|w| (w.pos.line, w.pos.column));
    out
}

/// The program a shell command line starts, when it can be told without running a shell:
/// the first word, unless it is a variable assignment, an expansion or a shell keyword.
fn first_program(command: &str) -> Option<&str> {
    let word = command.split_whitespace().next()?;
    let word = word.trim_matches(|c| c == '"' || c == '\'');
    let unsure = word.is_empty()
        || word.contains(['=', '$', '`', '{', '(', ';', '|', '&', '<', '>', '*', '?'])
        || SHELL_WORDS.contains(&word);
    (!unsure).then_some(word)
}

fn found(program: &str, root: &Path, path: Option<&str>) -> bool {
    if program.contains('/') {
        return executable(&root.join(program));
    }
    path.unwrap_or_default()
        .split(':')
        .filter(|dir| !dir.is_empty())
        .any(|dir| executable(&root.join(dir).join(program)))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::first_program;

    #[test]
    fn the_program_a_command_line_starts() {
        assert_eq!(first_program("./web --port {port}"), Some("./web"));
        assert_eq!(first_program("\"/opt/my app\" x"), Some("/opt/my"));
        assert_eq!(first_program("demo-app --port $PORT"), Some("demo-app"));
        assert_eq!(first_program("PORT=1 ./web"), None);
        assert_eq!(first_program("exec ./web"), None);
        assert_eq!(first_program("$HOME/web"), None);
        assert_eq!(first_program("   "), None);
    }
}
