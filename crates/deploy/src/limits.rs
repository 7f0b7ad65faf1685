//! Resource limits as a driver sees them: what an instance should be held to (from a
//! service's `resources:`), and how the driver managed to hold it there.

use serde::{Deserialize, Serialize};

/// Per-instance limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPU in millicores (`1000` = one core).
    pub cpu_millis: Option<u64>,
    pub memory_bytes: Option<u64>,
}

impl Limits {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cpu_millis.is_none() && self.memory_bytes.is_none()
    }
}

/// How a driver holds an instance to its [`Limits`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// A cgroup of its own (memory and CPU).
    Cgroup,
    /// Process rlimits (memory only: there is no rlimit for a CPU rate).
    Rlimit,
    /// Nothing: no limits asked for, or none could be set.
    #[default]
    None,
}

impl Enforcement {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Enforcement::Cgroup => "cgroup",
            Enforcement::Rlimit => "rlimit",
            Enforcement::None => "none",
        }
    }
}
