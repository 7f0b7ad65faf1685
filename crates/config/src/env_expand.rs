//! `${VAR}` and `${VAR:-default}` in values that operators of shell runbooks expect to
//! come from the environment (monitor target URLs and timeouts).
//!
//! Pure: the environment is passed in, so `gantry check` and `gantry serve` expand the same
//! text the same way for the same variables.

use std::collections::BTreeMap;

/// Why a value could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${` without its closing `}`.
    #[error("unterminated '${{' at character {0}; write ${{VAR}} or ${{VAR:-default}}")]
    Unterminated(usize),
    /// `${}` or a name with characters other than letters, digits and `_`.
    #[error("'{0}' is not a variable name (letters, digits and _, not starting with a digit)")]
    BadName(String),
    /// `${VAR}` with `VAR` unset (or empty) and no default.
    #[error("environment variable {0} is not set and has no default; write ${{{0}:-default}}")]
    Unset(String),
}

/// Whether `text` refers to the environment at all.
#[must_use]
pub fn has_vars(text: &str) -> bool {
    text.contains("${")
}

/// Replaces each `${VAR}` by the variable's value and each `${VAR:-default}` by the value,
/// or `default` when the variable is unset or empty (as the shell does). `$$` stays `$$`;
/// a `$` not followed by `{` is kept as written.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let inner_start = start + 2;
        let Some(len) = rest[inner_start..].find('}') else {
            return Err(ExpandError::Unterminated(offset + start + 1));
        };
        let inner = &rest[inner_start..inner_start + len];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        if !valid_name(name) {
            return Err(ExpandError::BadName(name.to_string()));
        }
        match (env.get(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(ExpandError::Unset(name.to_string())),
        }
        let consumed = inner_start + len + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn expands_values_and_defaults_like_the_shell() {
        let e = env(&[("FASTAPI_URL", "http://127.0.0.1:9000"), ("EMPTY", "")]);
        assert_eq!(
            expand("${FASTAPI_URL:-http://127.0.0.1:8000}/health", &e).unwrap(),
            "http://127.0.0.1:9000/health"
        );
        assert_eq!(
            expand("${NOPE:-http://127.0.0.1:8000}/health", &e).unwrap(),
            "http://127.0.0.1:8000/health"
        );
        assert_eq!(expand("${EMPTY:-5s}", &e).unwrap(), "5s");
        assert_eq!(
            expand("no vars, $HOME kept", &e).unwrap(),
            "no vars, $HOME kept"
        );
        assert_eq!(expand("${A:-1}${B:-2}", &e).unwrap(), "12");
        assert_eq!(expand("${X:-}", &e).unwrap(), "");
    }

    #[test]
    fn names_what_is_wrong() {
        let e = env(&[]);
        assert_eq!(
            expand("x${UNSET}", &e),
            Err(ExpandError::Unset("UNSET".into()))
        );
        assert_eq!(expand("ab${OPEN", &e), Err(ExpandError::Unterminated(3)));
        assert_eq!(expand("${1X}", &e), Err(ExpandError::BadName("1X".into())));
        assert_eq!(expand("${}", &e), Err(ExpandError::BadName(String::new())));
    }
}
