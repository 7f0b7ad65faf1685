//! Checks of `budget.tools`: plain program names, and every `run:` of the pipeline starting
//! with one of them (or with a shell builtin, which needs no program).

use super::{Problems, list};
use crate::Config;

/// Shell builtins and keywords a `run:` may start with whatever the allowed tools.
pub const SHELL_WORDS: &[&str] = &[
    ".", ":", "alias", "break", "case", "cd", "command", "continue", "echo", "eval", "exec",
    "exit", "export", "false", "for", "if", "printf", "read", "readonly", "return", "set", "shift",
    "test", "[", "times", "trap", "true", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while", "{", "!", "sh",
];

/// The program a shell command line starts with, past `NAME=value` assignments.
#[must_use]
pub fn first_program(command: &str) -> Option<&str> {
    command
        .split_ascii_whitespace()
        .find(|w| !w.contains('=') || w.starts_with('='))
}

pub(super) fn check_tools(config: &Config, p: &mut Problems<'_>) {
    for (name, pipeline) in &config.pipelines {
        let Some(tools) = &pipeline.budget.tools else {
            continue;
        };
        for tool in tools.iter() {
            if tool.is_empty() || tool.contains('/') || tool.chars().any(char::is_whitespace) {
                p.add(
                    tool.pos,
                    "gantry::config::tools",
                    "not a program name",
                    format!("`budget.tools` of pipeline '{name}' lists '{}'; give program names found on PATH (e.g. jq), not paths", tool.value),
                );
            }
        }
        let allowed: Vec<&str> = tools.iter().map(|t| t.as_str()).collect();
        for stage in &pipeline.stages {
            for step in &stage.steps {
                let Some(run) = &step.run else { continue };
                let Some(program) = first_program(run) else {
                    continue;
                };
                if !allowed.contains(&program) && !SHELL_WORDS.contains(&program) {
                    p.add(
                        run.pos,
                        "gantry::config::tools",
                        "tool not allowed",
                        format!(
                            "step '{}' of pipeline '{name}' runs '{program}', which `budget.tools` does not allow ({}); add it there or change the step",
                            step.display_name(),
                            list(allowed.iter().copied())
                        ),
                    );
                }
            }
        }
    }
}
