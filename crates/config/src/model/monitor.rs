//! Monitoring (`monitor:`): scheduled probes behind the status report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::env_expand::{ExpandError, expand};
use crate::units::{Duration, StatusCodes};

/// Scheduled probes. Results feed the status report (OPERATIONAL / DEGRADED / CRITICAL)
/// and the Prometheus metrics; they are not ledger entries.
///
/// ```yaml
/// monitor:
///   schedule: "0 */6 * * *"
///   targets:
///     api: { http: "${FASTAPI_URL:-http://127.0.0.1:8000}/health", timeout: "${HEALTH_CHECK_TIMEOUT:-5s}" }
///     db: { tcp: "127.0.0.1:5432" }
///     disk: { exec: "test $(df --output=pcent / | tail -1 | tr -d ' %') -lt 90" }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// Cron expression (5 fields, or 6 with seconds first), in the machine's local time
    /// (DST-safe: a time skipped by a DST change runs once, a repeated one once). Cannot
    /// be combined with `interval`.
    #[serde(default)]
    pub schedule: Option<Spanned<String>>,
    /// Probe this often instead of on a cron schedule. Default, when neither is given: 30s.
    #[serde(default)]
    pub interval: Option<Spanned<Duration>>,
    /// What to probe, by name.
    #[serde(default, deserialize_with = "super::null_default")]
    pub targets: BTreeMap<String, Spanned<MonitorTarget>>,
}

/// One monitored target: exactly one of `http`, `tcp` or `exec`. `http`, `tcp` and
/// `timeout` may use `${VAR}` / `${VAR:-default}` from the environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorTarget {
    /// URL to GET (`http://` only).
    #[serde(default)]
    pub http: Option<Spanned<String>>,
    /// `HOST:PORT` to connect to.
    #[serde(default)]
    pub tcp: Option<Spanned<String>>,
    /// Shell command to run (`sh -c`, in its own process group, killed at the timeout).
    #[serde(default)]
    pub exec: Option<Spanned<String>>,
    /// Fail a probe that takes longer: a duration, or `${VAR:-default}` naming one (a bare
    /// number from the environment is seconds, as `curl --max-time` reads it). Default: 5s.
    #[serde(default)]
    pub timeout: Option<Spanned<EnvText>>,
    /// Expected HTTP status (default `200..399`) or exit code for `exec` (default `0`).
    #[serde(default)]
    pub expect: Option<StatusCodes>,
    /// For `http`: the response body must contain this text.
    #[serde(default)]
    pub contains: Option<String>,
}

/// Text that may refer to the environment; numbers are read as their text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EnvText(pub String);

impl<'de> Deserialize<'de> for EnvText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EnvText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration such as 5s, or ${VAR:-5s}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvText, E> {
                Ok(EnvText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<EnvText, E> {
                Ok(EnvText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<EnvText, E> {
                Ok(EnvText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<EnvText, E> {
                Ok(EnvText(v.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// The default probe timeout.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The probe interval when `monitor:` gives neither `schedule` nor `interval`.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(30);

/// What a target checks, with the environment substituted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetCheck {
    /// GET this URL.
    Http(String),
    /// Connect to this `HOST:PORT`.
    Tcp(String),
    /// Run this shell command.
    Exec(String),
}

/// A problem resolving one field of a target, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    /// Position of the field.
    pub pos: crate::Pos,
    /// The field (`http`, `tcp`, `timeout`).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl MonitorTarget {
    /// The accepted status codes or exit codes.
    #[must_use]
    pub fn expected(&self) -> StatusCodes {
        match (self.expect, &self.exec) {
            (Some(e), _) => e,
            (None, Some(_)) => StatusCodes { min: 0, max: 0 },
            (None, None) => StatusCodes::default(),
        }
    }

    /// The check with `${VAR}` substituted from `env`, and checked for shape: an `http://`
    /// URL with a host, a `HOST:PORT` with a port.
    pub fn check(&self, env: &BTreeMap<String, String>) -> Result<TargetCheck, ResolveError> {
        let located = |field: &'static str, v: &Spanned<String>, e: ExpandError| ResolveError {
            pos: v.pos,
            field,
            message: e.to_string(),
        };
        if let Some(url) = &self.http {
            let text = expand(url, env).map_err(|e| located("http", url, e))?;
            check_url(&text).map_err(|message| ResolveError {
                pos: url.pos,
                field: "http",
                message,
            })?;
            return Ok(TargetCheck::Http(text));
        }
        if let Some(addr) = &self.tcp {
            let text = expand(addr, env).map_err(|e| located("tcp", addr, e))?;
            check_host_port(&text).map_err(|message| ResolveError {
                pos: addr.pos,
                field: "tcp",
                message,
            })?;
            return Ok(TargetCheck::Tcp(text));
        }
        if let Some(cmd) = &self.exec {
            // Not expanded: the shell expands its own variables when it runs the command.
            return Ok(TargetCheck::Exec(cmd.value.clone()));
        }
        Err(ResolveError {
            pos: crate::Pos::UNKNOWN,
            field: "http",
            message: "no check; give exactly one of http, tcp or exec".into(),
        })
    }

    /// The timeout with `${VAR}` substituted from `env`.
    pub fn timeout(&self, env: &BTreeMap<String, String>) -> Result<Duration, ResolveError> {
        let Some(t) = &self.timeout else {
            return Ok(DEFAULT_PROBE_TIMEOUT);
        };
        let err = |message: String| ResolveError {
            pos: t.pos,
            field: "timeout",
            message,
        };
        let text = expand(&t.0, env).map_err(|e| err(e.to_string()))?;
        let text = text.trim();
        let d = if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) {
            // Old runbooks set HEALTH_CHECK_TIMEOUT=10 for `curl --max-time 10`.
            text.parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|e| err(e.to_string()))?
        } else {
            text.parse::<Duration>().map_err(|e| {
                err(if t.0 == text {
                    e
                } else {
                    format!("'{}' expands to '{text}': {e}", t.0)
                })
            })?
        };
        if d.is_zero() {
            return Err(err("timeout must be longer than 0s".into()));
        }
        Ok(d)
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("'{url}' has no host"));
    }
    Ok(())
}

fn check_host_port(addr: &str) -> Result<(), String> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(())
        }
        _ => Err(format!("'{addr}' is not HOST:PORT")),
    }
}

/// Parses a `monitor.schedule` cron expression as the scheduler runs it: 5 fields, or 6
/// with seconds first (no year field), or a nickname such as `@daily`.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr.trim())
        .map_err(|e| e.to_string())
}
