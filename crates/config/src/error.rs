//! Errors: [`ConfigError`] and the located detail ([`Located`]) every parse and
//! validation error carries.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use crate::Pos;
use crate::snippet::{byte_span, render_snippet};

/// Why a config could not be loaded.
///
/// `Display` gives `file:line:column: message` followed by the offending line with a caret
/// under the problem:
///
/// ```text
/// gantry.yaml:5:5: unknown field 'instancs', expected one of listen, instances, ...
///   |
/// 5 |     instancs: 2
///   |     ^^^^^^^^
/// ```
///
/// It also implements [`miette::Diagnostic`] (code, named source, labelled span). For
/// miette's graphical output use [`ConfigError::into_diagnostic`], whose message is the
/// first line only, so the snippet is not shown twice.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path that was read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a well-formed `gantry.yaml`: YAML syntax, an unknown key, a wrong
    /// type, a bad duration/percentage, or an input limit (size, nesting, aliases).
    #[error("{}", WithSnippet(.0))]
    Parse(Box<Located>),
    /// The file is well-formed but inconsistent (unknown stage, cycle, unknown service, ...).
    #[error("{}", WithSnippet(.0))]
    Invalid(Box<Located>),
}

impl ConfigError {
    /// The located detail (all variants but [`ConfigError::Io`]).
    #[must_use]
    pub fn located(&self) -> Option<&Located> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Parse(l) | ConfigError::Invalid(l) => Some(l),
        }
    }

    /// 1-based line of the problem, when it has one.
    #[must_use]
    pub fn line(&self) -> Option<u64> {
        self.located().map(|l| l.line)
    }

    /// 1-based column (in characters) of the problem, when it has one.
    #[must_use]
    pub fn column(&self) -> Option<u64> {
        self.located().map(|l| l.column)
    }

    /// The message without file, position or snippet.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            ConfigError::Io { .. } => self.to_string(),
            ConfigError::Parse(l) | ConfigError::Invalid(l) => l.message.clone(),
        }
    }

    /// A stable identifier for the kind of problem, e.g. `gantry::config::unknown_stage`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Io { .. } => "gantry::config::io",
            ConfigError::Parse(l) | ConfigError::Invalid(l) => l.code,
        }
    }

    /// One line: `file:line:column: message`.
    #[must_use]
    pub fn headline(&self) -> String {
        match self.located() {
            Some(l) => l.to_string(),
            None => self.to_string(),
        }
    }

    /// A diagnostic for miette's graphical renderer: the headline as message plus the
    /// named source and labelled span: `miette::Report::new_boxed(err.into_diagnostic())`.
    #[must_use]
    pub fn into_diagnostic(self) -> Box<dyn Diagnostic + Send + Sync + 'static> {
        match self {
            ConfigError::Io { .. } => Box::new(self),
            ConfigError::Parse(l) | ConfigError::Invalid(l) => l,
        }
    }
}

impl Diagnostic for ConfigError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(ConfigError::code(self)))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.located().and_then(|l| l.source_code())
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.located().and_then(|l| l.labels())
    }
}

/// A problem at a place in the config file.
///
/// `Display` is the one-line form `file:line:column: message`; [`Located::snippet`] is
/// the offending line with a caret.
#[derive(Clone, Debug)]
pub struct Located {
    /// The file name as given to [`crate::parse`] (or the path given to [`crate::load`]).
    pub file: String,
    /// 1-based line (0 if unknown).
    pub line: u64,
    /// 1-based column, in characters (0 if unknown).
    pub column: u64,
    /// What is wrong.
    pub message: String,
    /// Stable kind identifier, e.g. `gantry::config::unknown_field`.
    pub code: &'static str,
    /// Short text shown under the caret in graphical output.
    pub label: String,
    len: u64,
    source: NamedSource<Arc<str>>,
}

impl Located {
    pub(crate) fn new(
        file: &SourceFile,
        pos: Pos,
        code: &'static str,
        label: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Located {
            file: file.name.clone(),
            line: pos.line,
            column: pos.column,
            message: sanitize(&message.into()),
            code,
            label: label.into(),
            len: pos.len,
            source: NamedSource::new(&file.name, Arc::clone(&file.text)),
        }
    }

    /// The offending line with a caret under the problem (several lines of text, no
    /// trailing newline); empty if the position is unknown.
    #[must_use]
    pub fn snippet(&self) -> String {
        render_snippet(self.source.inner(), self.line, self.column, self.len)
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for Located {}

impl Diagnostic for Located {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        (self.line > 0).then_some(&self.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.line == 0 {
            return None;
        }
        let (offset, len) = byte_span(self.source.inner(), self.line, self.column, self.len);
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(Some(self.label.clone()), (offset, len)),
        )))
    }
}

/// Display for [`ConfigError::Parse`]/[`ConfigError::Invalid`]: headline, then snippet.
pub(crate) struct WithSnippet<'a>(pub &'a Located);

impl fmt::Display for WithSnippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let snippet = self.0.snippet();
        if !snippet.is_empty() {
            write!(f, "\n{snippet}")?;
        }
        Ok(())
    }
}

/// The text being parsed, shared by every error about it.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(name: &str, text: &str) -> Self {
        SourceFile {
            name: name.to_string(),
            text: Arc::from(text),
        }
    }

    pub fn parse_error(
        &self,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Parse(Box::new(Located::new(self, pos, code, "here", message)))
    }
}

/// Messages are one line: control characters (from user text) are escaped.
fn sanitize(message: &str) -> String {
    if message.chars().any(char::is_control) {
        message
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        message.to_string()
    }
}
