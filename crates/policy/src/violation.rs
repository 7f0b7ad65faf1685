//! What the gate reports: one [`Violation`] per broken rule and place, and the [`Report`]
//! that says whether the gate passes.

use std::fmt;

use gantry_config::{Pos, RuleName, Severity};
use serde::Serialize;

/// Where a violation is, so a person or an agent can go and fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum Location {
    /// A place in `gantry.yaml` (line 0: the file as a whole).
    Config {
        /// The config file as named to the gate.
        file: String,
        /// 1-based line.
        line: u64,
        /// 1-based column.
        column: u64,
    },
    /// A place in a plan file, as an RFC 6901 JSON Pointer.
    Plan {
        /// The plan file (`-` for stdin).
        file: String,
        /// JSON Pointer to the part that is missing or wrong (`/health_checks/readiness`).
        pointer: String,
    },
}

impl Location {
    /// A place in a config file.
    #[must_use]
    pub fn config(file: &str, pos: Pos) -> Location {
        Location::Config {
            file: file.to_string(),
            line: pos.line,
            column: pos.column,
        }
    }

    fn sort_key(&self) -> (u64, u64, &str) {
        match self {
            Location::Config { line, column, .. } => (*line, *column, ""),
            // A plan's rules keep their own order (readiness before liveness, …).
            Location::Plan { .. } => (0, 0, ""),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Config { file, line: 0, .. } => f.write_str(file),
            Location::Config { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Location::Plan { file, pointer } => write!(f, "{file}#{pointer}"),
        }
    }
}

/// One broken rule at one place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule (`readinessProbeMissing`).
    pub rule: RuleName,
    /// How it counts, after `policy:` settings.
    pub severity: Severity,
    /// The service it concerns, when there is one.
    pub service: Option<String>,
    /// Where to fix it.
    pub location: Location,
    /// What is missing and what to add.
    pub message: String,
}

impl fmt::Display for Violation {
    /// `gantry.yaml:4:5: danger readinessProbeMissing: service 'web' has no ...; add ...`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.location, self.severity, self.rule, self.message
        )
    }
}

/// Every violation the gate found, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Violations with severity `warning` or `danger` (ignored rules are left out).
    pub violations: Vec<Violation>,
}

impl Report {
    pub(crate) fn from_unsorted(mut violations: Vec<Violation>) -> Report {
        violations.retain(|v| v.severity != Severity::Ignore);
        violations.sort_by(|a, b| {
            a.location
                .sort_key()
                .cmp(&b.location.sort_key())
                .then(a.rule.cmp(&b.rule))
        });
        Report { violations }
    }

    /// Whether the gate vetoes: any violation of severity `danger`.
    #[must_use]
    pub fn vetoed(&self) -> bool {
        self.violations
            .iter()
            .any(|v| v.severity == Severity::Danger)
    }

    /// Violations of severity `danger`.
    pub fn dangers(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Danger)
    }
}

impl fmt::Display for Report {
    /// One line per violation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for v in &self.violations {
            writeln!(f, "{v}")?;
        }
        Ok(())
    }
}
