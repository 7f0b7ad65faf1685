//! The role directory (`agents:`) and the ledger settings (`ledger:`).

use serde::{Deserialize, Deserializer, Serialize};

/// One entry of the role directory: who holds a role and how it signs.
///
/// ```yaml
/// agents:
///   planner:  { id: PlanAgent }                                # built-in agent
///   verifier: { id: ReviewAgent, command: ./agents/review.sh }  # external agent program
///   approver: { id: alice, manual: true }                      # waits for `gantry sign`
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// The agent's identity as recorded in every ledger entry it signs.
    pub id: String,
    /// A program implementing the agent: it gets the task as JSON on stdin and answers
    /// JSON (`{decision, summary, tokens_used}`) on stdout. Run through the shell.
    #[serde(default)]
    pub command: Option<String>,
    /// Wait for a person or outside agent to sign with `gantry sign` instead of deciding
    /// automatically. Default: false. Cannot be combined with `command`.
    #[serde(default)]
    pub manual: bool,
    /// Name of an environment variable holding the private key (PKCS#8 PEM), for CI; by
    /// default the key is read from `.gantry/keys/`.
    #[serde(default)]
    pub key_env: Option<String>,
}

/// How an agent reaches its decisions, derived from [`Agent::command`] and [`Agent::manual`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentMode<'a> {
    /// gantry's deterministic built-in agent for the role.
    BuiltIn,
    /// An external program (the command line).
    Command(&'a str),
    /// Waits for `gantry sign`.
    Manual,
}

impl Agent {
    /// How this agent signs.
    #[must_use]
    pub fn mode(&self) -> AgentMode<'_> {
        match (&self.command, self.manual) {
            (_, true) => AgentMode::Manual,
            (Some(cmd), false) => AgentMode::Command(cmd),
            (None, false) => AgentMode::BuiltIn,
        }
    }
}

/// Evidence ledger settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    /// Write a seal (signed Merkle checkpoint) after this many entries. Default: 1000;
    /// must be at least 1.
    #[serde(default = "default_seal_every", deserialize_with = "positive_u64")]
    pub seal_every: u64,
    /// The origin line of seal checkpoints (C2SP signed-note). Default: `gantry/<project>`.
    #[serde(default)]
    pub origin: Option<String>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            seal_every: default_seal_every(),
            origin: None,
        }
    }
}

fn default_seal_every() -> u64 {
    1000
}

/// A `u64` that must be at least 1; the error is reported at the value.
fn positive_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom(
            "seal_every must be at least 1 (a seal every N entries)",
        ));
    }
    Ok(n)
}
