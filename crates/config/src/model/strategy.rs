//! Deployment strategies (`strategy:`): rolling, blue-green, canary.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Listen;
use crate::Spanned;
use crate::units::{Duration, Percent, quote, string_serde};

/// How a new version replaces the running one. Written as a mapping with one key:
///
/// ```yaml
/// strategy: { rolling: { max_surge: 1, max_unavailable: 0 } }
/// strategy: { blue-green: { auto_promote: true, auto_promote_delay: 30s } }
/// strategy: { canary: { steps: [ {weight: 10, pause: 5s}, {weight: 50} ] } }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Replace instances a few at a time.
    Rolling(Rolling),
    /// Bring the new version up beside the old one, then switch all traffic at once.
    // `blue-green`, as the CLI's `--strategy` spells it; `blue_green` is still read. Written
    // out as `blue_green`, so hashes of definitions already recorded do not change.
    #[serde(rename(deserialize = "blue-green"), alias = "blue_green")]
    BlueGreen(BlueGreen),
    /// Shift traffic to the new version in weighted steps, judged by analysis.
    Canary(Canary),
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy::Rolling(Rolling::default())
    }
}

impl Strategy {
    /// Which strategy this is.
    #[must_use]
    pub fn kind(&self) -> StrategyKind {
        match self {
            Strategy::Rolling(_) => StrategyKind::Rolling,
            Strategy::BlueGreen(_) => StrategyKind::BlueGreen,
            Strategy::Canary(_) => StrategyKind::Canary,
        }
    }

    /// Time allowed for the new version to become ready before the deploy rolls back.
    #[must_use]
    pub fn progress_deadline(&self) -> Duration {
        match self {
            Strategy::Rolling(s) => s.progress_deadline,
            Strategy::BlueGreen(s) => s.progress_deadline,
            Strategy::Canary(s) => s.progress_deadline,
        }
    }
}

/// A strategy's name, e.g. for `deploy` steps that override the service's strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    /// `rolling`
    Rolling,
    /// `blue-green` (also read: `blue_green`)
    #[serde(rename(deserialize = "blue-green"), alias = "blue_green")]
    BlueGreen,
    /// `canary`
    Canary,
}

/// Rolling update settings (Kubernetes semantics).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rolling {
    /// Extra instances allowed above `instances` during the update (count or percentage,
    /// rounded up). Default: 25%.
    #[serde(default = "quarter")]
    pub max_surge: Spanned<Scale>,
    /// Instances that may be unavailable during the update (count or percentage, rounded
    /// down). Default: 25%. Cannot be 0 together with `max_surge`.
    #[serde(default = "quarter")]
    pub max_unavailable: Spanned<Scale>,
    /// Time allowed for progress before the update rolls back. Default: 10m.
    #[serde(default = "ten_minutes")]
    pub progress_deadline: Duration,
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling {
            max_surge: quarter(),
            max_unavailable: quarter(),
            progress_deadline: ten_minutes(),
        }
    }
}

/// Blue-green settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueGreen {
    /// Address on which the new (green) version is served before promotion. Default: none.
    #[serde(default)]
    pub preview_listen: Option<Spanned<Listen>>,
    /// Promote automatically once green is ready (after `auto_promote_delay`); otherwise
    /// wait for `gantry promote`. Default: false.
    #[serde(default)]
    pub auto_promote: bool,
    /// Wait this long after green is ready before auto-promoting. Default: none (at once).
    #[serde(default)]
    pub auto_promote_delay: Option<Duration>,
    /// Keep the old (blue) version running this long after the switch. Default: 30s.
    #[serde(default = "thirty_seconds")]
    pub scale_down_delay: Duration,
    /// Time allowed for green to become ready before the deploy rolls back. Default: 10m.
    #[serde(default = "ten_minutes")]
    pub progress_deadline: Duration,
}

/// Canary settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Traffic steps for the new version, with strictly increasing weights. After the last
    /// step the new version is promoted to 100%.
    pub steps: Spanned<Vec<CanaryStep>>,
    /// Time allowed for the canary to become ready before the deploy rolls back.
    /// Default: 10m.
    #[serde(default = "ten_minutes")]
    pub progress_deadline: Duration,
}

/// One canary step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryStep {
    /// Percentage of traffic (0–100) sent to the new version in this step.
    pub weight: Spanned<u8>,
    /// How long to hold this step (under analysis) before the next. Absent: wait for
    /// `gantry promote`.
    #[serde(default)]
    pub pause: Option<Duration>,
}

/// A number of instances, absolute (`1`) or relative to `instances` (`25%`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// An absolute count.
    Count(u32),
    /// A share of the service's instances.
    Percent(Percent),
}

impl Scale {
    /// Whether this allows no instances at all.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        match self {
            Scale::Count(n) => *n == 0,
            Scale::Percent(p) => p.value() == 0.0,
        }
    }

    /// The count for a service of `instances`, rounding a percentage up or down.
    #[must_use]
    pub fn of(&self, instances: u32, round_up: bool) -> u32 {
        match self {
            Scale::Count(n) => *n,
            Scale::Percent(p) => {
                let exact = f64::from(instances) * p.fraction();
                let n = if round_up {
                    exact.ceil()
                } else {
                    exact.floor()
                };
                // In range: 0 <= n <= instances.
                n.clamp(0.0, f64::from(instances)) as u32
            }
        }
    }
}

impl FromStr for Scale {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s.ends_with('%') {
            return s.parse().map(Scale::Percent);
        }
        s.parse::<u32>().map(Scale::Count).map_err(|_| {
            format!(
                "invalid amount {}; expected a count (1) or a percentage (25%)",
                quote(text)
            )
        })
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scale::Count(n) => n.fmt(f),
            Scale::Percent(p) => p.fmt(f),
        }
    }
}

string_serde!(Scale, "a count (1) or a percentage (25%)");

fn quarter() -> Spanned<Scale> {
    Spanned::new(Scale::Percent(Percent::new(25.0).unwrap_or_default()))
}
fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}
fn thirty_seconds() -> Duration {
    Duration::from_secs(30)
}
