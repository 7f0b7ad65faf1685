//! The status model: OPERATIONAL, DEGRADED or CRITICAL, and the reasons for it.
//!
//! - CRITICAL: a service with no ready instance, an emergency stop, a ledger that does not
//!   verify or cannot be written.
//! - DEGRADED: a monitor target failing, a rollback within the last [`ROLLBACK_WINDOW`], a
//!   service below its desired instances, a service never deployed (or not checked), a
//!   notification channel failing.
//! - OPERATIONAL: none of these.

use serde::{Deserialize, Serialize};

/// How long a rollback keeps the status DEGRADED: someone should look at why.
pub const ROLLBACK_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// The overall status, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    Operational,
    Degraded,
    Critical,
}

impl Level {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Operational => "OPERATIONAL",
            Level::Degraded => "DEGRADED",
            Level::Critical => "CRITICAL",
        }
    }

    /// The value of the `gantry_status` gauge: 0, 1, 2.
    #[must_use]
    pub fn as_number(self) -> i64 {
        match self {
            Level::Operational => 0,
            Level::Degraded => 1,
            Level::Critical => 2,
        }
    }

    /// `from` for [`Level::as_str`] text.
    #[must_use]
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "OPERATIONAL" => Some(Level::Operational),
            "DEGRADED" => Some(Level::Degraded),
            "CRITICAL" => Some(Level::Critical),
            _ => None,
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason the status is not OPERATIONAL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reason {
    pub level: Level,
    /// What it is about: `service web`, `target api`, `ledger`, `control plane`.
    pub subject: String,
    pub text: String,
}

impl Reason {
    #[must_use]
    pub fn new(level: Level, subject: impl Into<String>, text: impl Into<String>) -> Reason {
        Reason {
            level,
            subject: subject.into(),
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.text)
    }
}

/// The overall level of a set of reasons: the worst of them, OPERATIONAL if none.
#[must_use]
pub fn overall(reasons: &[Reason]) -> Level {
    reasons
        .iter()
        .map(|r| r.level)
        .max()
        .unwrap_or(Level::Operational)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_reason_decides() {
        assert_eq!(overall(&[]), Level::Operational);
        let r = [
            Reason::new(Level::Degraded, "target api", "down"),
            Reason::new(Level::Critical, "ledger", "does not verify"),
        ];
        assert_eq!(overall(&r), Level::Critical);
        assert_eq!(overall(&r[..1]), Level::Degraded);
        assert_eq!(Level::parse("DEGRADED"), Some(Level::Degraded));
        assert_eq!(
            serde_json::to_string(&Level::Critical).unwrap(),
            "\"CRITICAL\""
        );
    }
}
