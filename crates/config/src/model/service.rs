//! Services (`services:`): addresses, releases, health, strategy, analysis.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Analysis, Health, RouterSettings, Scaling, Strategy};
use crate::Spanned;
use crate::units::{Cpu, Memory, quote, string_serde};

/// A service gantry runs and routes to.
///
/// ```yaml
/// services:
///   web:
///     listen: 127.0.0.1:8080
///     releases: { v1: { run: ./web --port {port} } }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The stable address gantry's router listens on for this service (`IP:PORT`).
    pub listen: Spanned<Listen>,
    /// Instances per version. Default: 1; must be at least 1.
    #[serde(default = "one")]
    pub instances: Spanned<u32>,
    /// Environment variables for every instance of every release.
    #[serde(default, deserialize_with = "super::null_default")]
    pub env: BTreeMap<String, String>,
    /// Deployable versions: version name → how to run it. Default: none (then
    /// `releases_from:` must give them).
    #[serde(default)]
    pub releases: BTreeMap<String, Release>,
    /// More deployable versions: the tags of a git repository, each built on first use.
    /// Default: none.
    #[serde(default)]
    pub releases_from: Option<super::ReleasesFrom>,
    /// Health checks (Kubernetes semantics). Default: none.
    #[serde(default)]
    pub health: Health,
    /// How a new version replaces the old one. Default: rolling with 25% surge/unavailable.
    #[serde(default)]
    pub strategy: Strategy,
    /// Rules that judge a new version and trigger automatic rollback. Default: none.
    #[serde(default)]
    pub analysis: Option<Analysis>,
    /// What the control plane does with a deployment interrupted by its own restart.
    /// Default: rollback.
    #[serde(default)]
    pub on_restart: OnRestart,
    /// Resource limits for each instance. Default: none.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// Instances of the stable version by measured CPU, between a minimum and a maximum.
    /// Default: none (always `instances`).
    #[serde(default)]
    pub scaling: Option<Spanned<Scaling>>,
    /// Timeouts and limits of gantry's router in front of the instances. Default: nginx's.
    #[serde(default)]
    pub router: RouterSettings,
}

fn one() -> Spanned<u32> {
    Spanned::new(1)
}

/// One deployable version of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Command line that starts one instance (run through the shell). `{port}` is replaced
    /// by the instance's loopback port, which is also in `$PORT`.
    pub run: Spanned<String>,
    /// Environment variables for this release (override the service's `env`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Container image, for the Kubernetes driver. Default: none.
    #[serde(default)]
    pub image: Option<String>,
}

impl Release {
    /// The command line for an instance on `port`.
    #[must_use]
    pub fn command_for_port(&self, port: u16) -> String {
        self.run.replace("{port}", &port.to_string())
    }
}

/// What to do with a deployment found in progress after a control-plane restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRestart {
    /// Continue the deployment where it stopped.
    Resume,
    /// Return all traffic to the stable version (the default).
    #[default]
    Rollback,
}

/// Per-instance resource limits, in Kubernetes quantity notation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU limit, e.g. `500m` or `2`: the local driver enforces it with cgroup v2
    /// `cpu.max` where it can create a cgroup (there is no rlimit for a rate).
    #[serde(default)]
    pub cpu: Option<Spanned<Cpu>>,
    /// Memory limit, e.g. `256Mi`: cgroup v2 `memory.max`, else `RLIMIT_AS`.
    #[serde(default)]
    pub memory: Option<Spanned<Memory>>,
}

/// A socket address written as `IP:PORT` (`127.0.0.1:8080`, `[::1]:8080`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Listen(pub SocketAddr);

impl FromStr for Listen {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        text.trim().parse::<SocketAddr>().map(Listen).map_err(|_| {
            format!(
                "invalid listen address {}; expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080",
                quote(text)
            )
        })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_serde!(Listen, "an address such as 127.0.0.1:8080");
