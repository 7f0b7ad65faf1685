//! Reading `gantry.yaml`: input limits, YAML → [`Config`], error mapping, validation.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Budget, MessageFormatter, Options, UserMessageFormatter};

use crate::error::SourceFile;
use crate::snippet::{byte_span, position_of};
use crate::{Config, ConfigError, Pos, validate};

/// Largest accepted config file, in bytes (1 MiB; real configs are a few KiB).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Reads, parses and validates the config file at `path`.
///
/// Errors name the path (as given), line and column. Files over [`MAX_CONFIG_BYTES`] and
/// files that are not UTF-8 are refused without reading them whole. Declared secrets are
/// checked against the values gantry.yaml sets only; [`load_with_env`] also looks them up
/// in an environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_env(path, &BTreeMap::new())
}

/// Like [`load`], with `env` (the process environment of a command) supplying the values
/// of declared `secrets:` that gantry.yaml's `env:` does not set.
pub fn load_with_env(path: &Path, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let (name, text) = read_limited(path)?;
    check_with_env(&name, &text, env).map_err(|mut errors| errors.swap_remove(0))
}

/// Parses and validates config text; `source_name` is used in error messages.
///
/// Returns the first problem (in file order). Use [`check`] to get every semantic problem.
pub fn parse(source_name: &str, text: &str) -> Result<Config, ConfigError> {
    check(source_name, text).map_err(|mut errors| errors.swap_remove(0))
}

/// Like [`parse`], but returns every semantic problem (sorted by position) rather than
/// the first, e.g. for `gantry check`. A YAML or schema error is returned alone, since
/// nothing after it can be trusted. The error list is never empty.
pub fn check(source_name: &str, text: &str) -> Result<Config, Vec<ConfigError>> {
    check_with_env(source_name, text, &BTreeMap::new())
}

/// Like [`check`], with `env` (the process environment of a command) supplying the values
/// of declared `secrets:` that gantry.yaml's `env:` does not set, so that a value too
/// short to mask is refused before anything runs. Validation stays pure: nothing is read
/// from the real environment here.
pub fn check_with_env(
    source_name: &str,
    text: &str,
    env: &BTreeMap<String, String>,
) -> Result<Config, Vec<ConfigError>> {
    let file = SourceFile::new(source_name, text);
    let config = deserialize(&file, text).map_err(|e| vec![e])?;
    let problems = validate::validate(&config, &file, env);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

fn read_limited(path: &Path) -> Result<(String, String), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > MAX_CONFIG_BYTES {
        let text = String::from_utf8_lossy(&bytes[..MAX_CONFIG_BYTES.min(4096)]);
        return Err(too_large(&SourceFile::new(&name, &text)));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok((name, text)),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            let text = String::from_utf8_lossy(&bytes);
            let valid_text = String::from_utf8_lossy(&bytes[..valid]);
            let (line, column) = position_of(&valid_text, valid);
            let pos = Pos {
                line,
                column,
                len: 1,
            };
            Err(SourceFile::new(&name, &text).parse_error(
                pos,
                "gantry::config::encoding",
                format!(
                    "invalid UTF-8 (byte 0x{:02x}); the config must be UTF-8 text",
                    bytes.get(valid).copied().unwrap_or(0)
                ),
            ))
        }
    }
}

fn too_large(file: &SourceFile) -> ConfigError {
    file.parse_error(
        Pos {
            line: 1,
            column: 1,
            len: 0,
        },
        "gantry::config::limit",
        format!(
            "file is larger than {} KiB; a gantry.yaml this big is refused",
            MAX_CONFIG_BYTES / 1024
        ),
    )
}

/// Limits that make hostile input (alias bombs, deep nesting, huge files) fail fast.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_reader_input_bytes = Some(MAX_CONFIG_BYTES);
    budget.max_events = 200_000;
    budget.max_nodes = 100_000;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_depth = 32;
    budget.flow_nesting_limit = 32;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = MAX_CONFIG_BYTES;
    budget.max_merge_keys = 100;
    budget.max_recorded_anchor_events = 50_000;
    budget.max_recorded_anchor_bytes = MAX_CONFIG_BYTES;
    budget.max_inclusion_depth = 0;

    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 50_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.alias_limits.max_alias_expansions_per_anchor = 1_000;
    options.with_snippet = false;
    options
}

fn deserialize(file: &SourceFile, text: &str) -> Result<Config, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(too_large(file));
    }
    serde_saphyr::from_str_with_options::<Config>(text, options())
        .map_err(|err| from_yaml_error(file, &err))
}

/// Maps a serde-saphyr error to [`ConfigError::Parse`] with a plain, one-line message.
fn from_yaml_error(file: &SourceFile, err: &serde_saphyr::Error) -> ConfigError {
    let pos = err.location().map_or(Pos::UNKNOWN, Pos::from);
    let mut inner = err;
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = inner
    {
        inner = error;
    }
    let raw = UserMessageFormatter.format_message(inner);
    let mut message = raw.replace('`', "'");
    if let Some(better) = explain_type(&message, &found_text(file, pos)) {
        message = better;
    }
    let limit = if let serde_saphyr::Error::Budget { breach, .. } = inner {
        message = describe_breach(breach);
        true
    } else if message == "recursion limit exceeded" {
        message = "input limit exceeded: nesting is too deep".to_string();
        true
    } else if message.starts_with("YAML document too large") {
        message = format!("input limit exceeded: {message}");
        true
    } else {
        false
    };
    match message.as_str() {
        "unexpected end of file" if text_is_blank(file) => {
            message = "the file is empty; it needs at least `project: NAME`".to_string();
        }
        "expected mapping start" => message = "expected a mapping (key: value)".to_string(),
        "expected sequence start" => message = "expected a list".to_string(),
        _ => {}
    }
    let code = if limit {
        "gantry::config::limit"
    } else if message.starts_with("unknown field") {
        "gantry::config::unknown_field"
    } else if message.starts_with("unknown variant") {
        "gantry::config::unknown_variant"
    } else if message.starts_with("missing field") {
        "gantry::config::missing_field"
    } else if matches!(inner, serde_saphyr::Error::ExternalMessage { .. }) {
        "gantry::config::syntax"
    } else {
        "gantry::config::invalid_value"
    };
    if code == "gantry::config::syntax"
        && let Some(key) = crate::enclosing::enclosing_key(&file.text, pos.line, pos.column)
    {
        message = format!("in `{key}`: {message}");
    }
    file.parse_error(pos, code, message)
}

fn text_is_blank(file: &SourceFile) -> bool {
    file.text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// A sentence for a breached input limit.
fn describe_breach(breach: &BudgetBreach) -> String {
    let what = match breach {
        BudgetBreach::Events { .. } | BudgetBreach::Nodes { .. } => "too many YAML nodes",
        BudgetBreach::Aliases { .. } | BudgetBreach::AliasAnchorRatio { .. } => "too many aliases",
        BudgetBreach::Anchors { .. } => "too many anchors",
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            "aliases expand to too much data"
        }
        BudgetBreach::Depth { .. } => "nesting is too deep",
        BudgetBreach::Documents { .. } => {
            "more than one YAML document (---); gantry.yaml is one document"
        }
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => {
            "the input is too large"
        }
        BudgetBreach::MergeKeys { .. } => "too many merge keys (<<)",
        _ => "the input is too large or too complex",
    };
    format!("input limit exceeded: {what}")
}

/// The source text at `pos` (what the user wrote), for messages.
fn found_text(file: &SourceFile, pos: Pos) -> String {
    if pos.line == 0 {
        return String::new();
    }
    let (offset, len) = byte_span(&file.text, pos.line, pos.column, pos.len.max(1));
    file.text
        .get(offset..offset + len)
        .unwrap_or("")
        .to_string()
}

/// Rewrites terse type errors ("invalid u32") into what was expected and what was found.
fn explain_type(message: &str, found: &str) -> Option<String> {
    let expected = match message.strip_prefix("invalid ")? {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" => "a whole number from 0 to 18446744073709551615",
        "i32" | "i64" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" | "boolean" => "true or false",
        _ => return None,
    };
    Some(if found.is_empty() {
        format!("expected {expected}")
    } else {
        format!("expected {expected}, found {}", crate::units::quote(found))
    })
}
