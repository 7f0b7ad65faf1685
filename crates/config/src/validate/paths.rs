//! Names and paths that become files: stage names (directories under the run's directory),
//! step names, `report:` and a `status:` step's `output:`, step `artefacts:` and checkpoint
//! `requires:`. Each must stay inside the project, and `gantry check` says so before a run
//! writes anything.

use super::Problems;
use crate::{Config, Pos};

pub(super) fn check_paths(config: &Config, p: &mut Problems<'_>) {
    for (name, pipeline) in &config.pipelines {
        if let Some(report) = &pipeline.report
            && let Some(why) = report_problem(report)
        {
            p.add(
                report.pos,
                "gantry::config::path_escape",
                "outside the project",
                format!(
                    "report {} of pipeline '{name}' {why}; the report is written relative to the \
                     project root and must stay inside it, outside .gantry/",
                    quote(report)
                ),
            );
        }
        for stage in &pipeline.stages {
            if let Some(why) = stage_name_problem(&stage.name) {
                p.add(
                    stage.name.pos,
                    "gantry::config::stage_name",
                    "not a directory name",
                    format!(
                        "stage name {} {why}; a stage's logs go to .gantry/runs/RUN/<stage>/, so \
                         its name may not be empty, '.' or '..', nor contain '/', '\\' or control \
                         characters",
                        quote(&stage.name)
                    ),
                );
            }
            for step in &stage.steps {
                if let Some(step_name) = &step.name
                    && step_name.chars().any(char::is_control)
                {
                    p.add(
                        step_name.pos,
                        "gantry::config::step_name",
                        "control character",
                        format!(
                            "step name {} in stage '{}' contains a control character; step \
                             names are printed in logs, heartbeat lines and on the terminal, \
                             where it could forge lines",
                            quote(step_name),
                            stage.name.value
                        ),
                    );
                }
                if let Some(status) = &step.status
                    && let Some(output) = &status.output
                    && let Some(why) = report_problem(output)
                {
                    p.add(
                        output.pos,
                        "gantry::config::path_escape",
                        "outside the project",
                        format!(
                            "status report output {} in stage '{}' {why}; it is written relative \
                             to the project root and must stay inside it, outside .gantry/",
                            quote(output),
                            stage.name.value
                        ),
                    );
                }
                for (path, pos) in step.artefacts.with_pos() {
                    artefact(
                        p,
                        path,
                        pos,
                        &format!(
                            "artefact {} of step '{}' (stage '{}')",
                            quote(path),
                            step.display_name(),
                            stage.name.value
                        ),
                    );
                }
            }
            if let Some(checkpoint) = &stage.checkpoint {
                for (path, pos) in checkpoint.requires.with_pos() {
                    artefact(
                        p,
                        path,
                        pos,
                        &format!(
                            "artefact {} required by the checkpoint of stage '{}'",
                            quote(path),
                            stage.name.value
                        ),
                    );
                }
            }
        }
    }
}

fn artefact(p: &mut Problems<'_>, path: &str, pos: Pos, what: &str) {
    if let Some(why) = artefact_problem(path) {
        p.add(
            pos,
            "gantry::config::path_escape",
            "not an artefact path",
            format!(
                "{what} {why}; artefact paths are relative to the project root and stay inside it"
            ),
        );
    }
}

/// Why `name` cannot name a stage's directory, if it cannot.
fn stage_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name == "." || name == ".." {
        Some("would name the run's directory or its parent")
    } else if name.contains('/') || name.contains('\\') {
        Some("contains a path separator")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Why `path` is not a path inside the project, if it is not.
fn project_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("is empty")
    } else if path.starts_with('/') {
        Some("is absolute, outside the project")
    } else if path.split('/').any(|c| c == "..") {
        Some("goes up with '..', which can leave the project")
    } else if path.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Artefact paths are also lines of `sha256_manifest.txt`, which `sha256sum -c` reads a
/// `\` in as the start of an escape.
fn artefact_problem(path: &str) -> Option<&'static str> {
    project_path_problem(path).or_else(|| {
        path.contains('\\')
            .then_some("contains '\\', which sha256_manifest.txt cannot record")
    })
}

/// The report is rewritten whole by `gantry report --rebuild`: pointed at gantry's own
/// files it would destroy the ledger, the keys or the config.
fn report_problem(path: &str) -> Option<&'static str> {
    project_path_problem(path).or_else(|| {
        let mut parts = path.split('/').filter(|c| !c.is_empty() && *c != ".");
        match (parts.next(), parts.next()) {
            (Some(".gantry"), _) => Some("is inside .gantry/, which holds the ledger and keys"),
            (Some("gantry.yaml"), None) => Some("is the config file itself"),
            _ => None,
        }
    })
}

fn quote(text: &str) -> String {
    crate::units::quote(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_that_cannot_be_directories() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            "a\\b",
            "nul\0",
            "new\nline",
        ] {
            assert!(stage_name_problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "ci",
            "deploy to staging",
            "rollback-if-needed",
            "v1.2",
            "...",
            ".hidden",
        ] {
            assert_eq!(stage_name_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn project_paths() {
        for bad in ["", "/etc/passwd", "../x", "dist/../../x", "a/..", "a\nb"] {
            assert!(project_path_problem(bad).is_some(), "{bad:?}");
        }
        for good in ["dist/web.txt", "./dist/x", "dist/b c", "a..b/c", ".../x"] {
            assert_eq!(project_path_problem(good), None, "{good:?}");
        }
        assert!(artefact_problem("dist\\x").is_some());
        assert_eq!(artefact_problem("dist/x"), None);
    }

    #[test]
    fn reports_stay_out_of_gantrys_own_files() {
        for bad in [
            ".gantry/ledger.jsonl",
            "./.gantry/x.md",
            ".gantry",
            "gantry.yaml",
            "./gantry.yaml",
        ] {
            assert!(report_problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "docs/reports/OUT.md",
            "OUTCOMES.md",
            "docs/gantry.yaml",
            "gantry.md",
        ] {
            assert_eq!(report_problem(good), None, "{good:?}");
        }
    }
}
