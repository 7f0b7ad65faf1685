//! `scaling:` of a service: how many instances of its stable version run, between `min`
//! and `max`, chosen by measured CPU against `target_cpu` as Kubernetes' HorizontalPodAutoscaler
//! chooses replicas.

use serde::{Deserialize, Serialize};

use crate::Spanned;
use crate::units::{Duration, Percent};

/// ```yaml
/// scaling: { min: 1, max: 4, target_cpu: 70% }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Fewest instances. At least 1.
    pub min: Spanned<u32>,
    /// Most instances. At least `min`.
    pub max: Spanned<u32>,
    /// Average CPU per instance to aim for, as a share of its `resources.cpu` (HPA's
    /// `averageUtilization`), e.g. `70%`.
    pub target_cpu: Spanned<Percent>,
    /// How often CPU is measured and the count decided (HPA's sync period). Default: 15s.
    #[serde(default = "fifteen_seconds")]
    pub period: Spanned<Duration>,
    /// Scale-down stabilisation window: the count only goes down to the highest count
    /// wanted over this window, so a short lull does not remove instances that the next
    /// burst needs (HPA's `scaleDown.stabilizationWindowSeconds`). Default: 5m.
    #[serde(default = "five_minutes")]
    pub stabilization: Spanned<Duration>,
}

fn fifteen_seconds() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(15))
}

fn five_minutes() -> Spanned<Duration> {
    Spanned::new(Duration::from_secs(300))
}
