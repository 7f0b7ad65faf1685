//! Health checks (`health:`) with Kubernetes probe semantics.

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::units::{Duration, StatusCodes};

/// The probes of a service. An instance gets traffic only while its readiness probe
/// passes; a failing liveness probe restarts it; a startup probe holds the others back
/// until it first passes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Readiness probe. Default: none (ready as soon as started).
    #[serde(default)]
    pub readiness: Option<Spanned<Probe>>,
    /// Liveness probe. Default: none.
    #[serde(default)]
    pub liveness: Option<Spanned<Probe>>,
    /// Startup probe. Default: none.
    #[serde(default)]
    pub startup: Option<Spanned<Probe>>,
}

/// One probe: exactly one of `http`, `tcp` or `exec`, plus timing. Defaults are
/// Kubernetes': no initial delay, every 10s, 1s timeout, 1 success, 3 failures.
///
/// ```yaml
/// readiness: { http: /health, period: 1s, timeout: 500ms, failure_threshold: 3 }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// HTTP GET of this path on the instance's port.
    #[serde(default)]
    pub http: Option<Spanned<String>>,
    /// `true`: a TCP connect to the instance's port.
    #[serde(default)]
    pub tcp: Option<Spanned<bool>>,
    /// A command run through the shell (with `$PORT` set); exit status 0 passes.
    #[serde(default)]
    pub exec: Option<Spanned<String>>,
    /// Accepted HTTP statuses. Default: `200..399`.
    #[serde(default)]
    pub status: StatusCodes,
    /// Wait this long after start before the first probe. Default: 0s.
    #[serde(default)]
    pub initial_delay: Duration,
    /// Time between probes. Default: 10s.
    #[serde(default = "ten_seconds")]
    pub period: Spanned<Duration>,
    /// A probe taking longer than this fails. Default: 1s.
    #[serde(default = "one_second")]
    pub timeout: Spanned<Duration>,
    /// Consecutive successes to count as passing. Default: 1.
    #[serde(default = "one")]
    pub success_threshold: Spanned<u32>,
    /// Consecutive failures to count as failing. Default: 3.
    #[serde(default = "three")]
    pub failure_threshold: Spanned<u32>,
}

/// What a [`Probe`] checks, once validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeCheck<'a> {
    /// HTTP GET of a path.
    Http(&'a str),
    /// TCP connect.
    Tcp,
    /// Shell command.
    Exec(&'a str),
}

impl Probe {
    /// The check to run; `None` only for a config that failed validation.
    #[must_use]
    pub fn check(&self) -> Option<ProbeCheck<'_>> {
        if let Some(path) = &self.http {
            Some(ProbeCheck::Http(path))
        } else if let Some(cmd) = &self.exec {
            Some(ProbeCheck::Exec(cmd))
        } else if self.tcp.as_ref().is_some_and(|t| **t) {
            Some(ProbeCheck::Tcp)
        } else {
            None
        }
    }
}

fn ten_seconds() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(10))
}
fn one_second() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(1))
}
fn one() -> Spanned<u32> {
    Spanned::new(1)
}
fn three() -> Spanned<u32> {
    Spanned::new(3)
}
