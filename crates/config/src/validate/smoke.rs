//! `smoke:` checks: `METHOD TARGET == STATUS`, e.g. `"GET / == 200"`,
//! `"GET /health == 2xx"` or `"HEAD http://127.0.0.1:8080/ == 200"`. Parsed here so that
//! `gantry check` rejects a bad one with its position and the pipeline runs the same
//! reading of it.

use std::fmt;
use std::str::FromStr;

use super::{Problems, list};
use crate::units::quote;
use crate::{Config, StatusCodes, Step};

/// Methods a smoke check may send. Bodies are never sent, so methods that want one are
/// still fine for endpoints that do not.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];

/// A parsed `smoke:` check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmokeCheck {
    /// HTTP method, upper case.
    pub method: String,
    /// Where the request goes.
    pub target: SmokeTarget,
    /// Accepted status codes.
    pub expect: StatusCodes,
}

/// Where a smoke request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmokeTarget {
    /// A path (with optional query) on the service's `listen` address.
    Path(String),
    /// A full `http://` URL.
    Url(String),
}

impl FromStr for SmokeCheck {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let shape = || {
            format!(
                "invalid smoke check {}; expected `METHOD PATH == STATUS`, e.g. \"GET /health == 200\" \
                 (PATH may be a full http:// URL; STATUS a code, a class like 2xx or a range like 200..299)",
                quote(text)
            )
        };
        let (request, status) = text.split_once("==").ok_or_else(shape)?;
        let mut words = request.split_whitespace();
        let (Some(method), Some(target), None) = (words.next(), words.next(), words.next()) else {
            return Err(shape());
        };
        if !METHODS.contains(&method) {
            return Err(format!(
                "smoke check {}: unknown HTTP method {}; expected one of {}",
                quote(text),
                quote(method),
                list(METHODS)
            ));
        }
        let target = if target.starts_with('/') {
            SmokeTarget::Path(target.to_string())
        } else if let Some(rest) = target.strip_prefix("http://") {
            if rest.is_empty() || rest.starts_with('/') {
                return Err(format!(
                    "smoke check {}: the URL {} has no host",
                    quote(text),
                    quote(target)
                ));
            }
            SmokeTarget::Url(target.to_string())
        } else if target.starts_with("https://") {
            return Err(format!(
                "smoke check {}: https is not supported by smoke checks; use http:// or a path on the service",
                quote(text)
            ));
        } else {
            return Err(format!(
                "smoke check {}: {} is neither a path (starting with /) nor an http:// URL",
                quote(text),
                quote(target)
            ));
        };
        let expect = status
            .trim()
            .parse::<StatusCodes>()
            .map_err(|e| format!("smoke check {}: {e}", quote(text)))?;
        if expect.min < 100 || expect.max > 599 {
            return Err(format!(
                "smoke check {}: HTTP status codes are between 100 and 599",
                quote(text)
            ));
        }
        Ok(SmokeCheck {
            method: method.to_string(),
            target,
            expect,
        })
    }
}

impl fmt::Display for SmokeCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            SmokeTarget::Path(p) | SmokeTarget::Url(p) => p,
        };
        write!(f, "{} {target} == {}", self.method, self.expect)
    }
}

/// A smoke step's check must parse, and a path needs a service to send it to.
pub(super) fn check_smoke(config: &Config, stage: &str, step: &Step, p: &mut Problems<'_>) {
    let Some(smoke) = &step.smoke else {
        return;
    };
    match smoke.parse::<SmokeCheck>() {
        Err(message) => p.add(
            smoke.pos,
            "gantry::config::smoke_syntax",
            "invalid smoke check",
            format!("{message} (stage '{stage}')"),
        ),
        Ok(check) if matches!(check.target, SmokeTarget::Path(_)) && config.services.is_empty() => {
            p.add(
                smoke.pos,
                "gantry::config::smoke_target",
                "no service",
                format!(
                    "smoke check in stage '{stage}' names a path but there are no `services` to send it to; \
                     write a full URL (\"GET http://127.0.0.1:8080/ == 200\")"
                ),
            );
        }
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_urls_and_statuses() {
        let c: SmokeCheck = "GET / == 200".parse().unwrap();
        assert_eq!(c.method, "GET");
        assert_eq!(c.target, SmokeTarget::Path("/".into()));
        assert_eq!(c.expect, StatusCodes { min: 200, max: 200 });
        let c: SmokeCheck = "  HEAD   /health?x=1==2xx ".parse().unwrap();
        assert_eq!(c.target, SmokeTarget::Path("/health?x=1".into()));
        assert_eq!(c.expect, StatusCodes { min: 200, max: 299 });
        let c: SmokeCheck = "GET http://127.0.0.1:9/x == 404".parse().unwrap();
        assert_eq!(c.target, SmokeTarget::Url("http://127.0.0.1:9/x".into()));
        assert_eq!(c.to_string(), "GET http://127.0.0.1:9/x == 404");
    }

    #[test]
    fn rejects_bad_checks_with_a_reason() {
        for (text, says) in [
            ("GET /", "expected `METHOD PATH == STATUS`"),
            ("/ == 200", "expected `METHOD PATH == STATUS`"),
            ("GET / extra == 200", "expected `METHOD PATH == STATUS`"),
            ("get / == 200", "unknown HTTP method"),
            ("GET health == 200", "neither a path"),
            ("GET https://x/ == 200", "https is not supported"),
            ("GET http:// == 200", "has no host"),
            ("GET / == ok", "invalid status"),
            ("GET / == 700", "between 100 and 599"),
            ("GET / == ", "invalid status"),
            ("", "expected `METHOD PATH == STATUS`"),
            ("GET / == 200 == 300", "invalid status"),
        ] {
            let err = text.parse::<SmokeCheck>().unwrap_err();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }
}
