//! Strategy step planning: which instances to start and stop, which weights to set and
//! where to pause, for a deploy or a rollback. Pure: the control plane executes the steps.

use std::collections::BTreeMap;
use std::fmt;

use gantry_config::{Service, Strategy};
use serde::{Deserialize, Serialize};

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Start `count` instances of `version` and wait until they are all ready (within the
    /// progress deadline).
    Start { version: String, count: u32 },
    /// Split traffic by these relative weights (versions absent get none).
    Weights { weights: BTreeMap<String, u32> },
    /// Serve `version` on the service's preview address (blue-green).
    Preview { version: String },
    /// Hold here; `millis: None` waits for `gantry promote`. With `analyse`, the new
    /// version's windows are judged meanwhile; with `preview` too, on its own traffic on the
    /// preview address (blue-green before the switch), and a timed hold ends only after a
    /// passing window, so green is promoted automatically only on evidence.
    Pause {
        millis: Option<u64>,
        analyse: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        preview: bool,
    },
    /// New version takes all traffic (recorded as `deployment.state.promoted`).
    Promote { version: String },
    /// Take `count` instances of `version` (all when `None`) out of traffic, drain, stop.
    Stop { version: String, count: Option<u32> },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Start { version, count } => {
                write!(
                    f,
                    "start {count} instance(s) of {version} and wait until ready"
                )
            }
            Step::Weights { weights } => {
                let parts: Vec<String> = weights.iter().map(|(v, w)| format!("{v}={w}")).collect();
                write!(f, "set traffic weights {}", parts.join(" "))
            }
            Step::Preview { version } => write!(f, "serve {version} on the preview address"),
            Step::Pause {
                millis: None,
                analyse,
                preview,
            } => write!(
                f,
                "pause until `gantry promote`{}",
                match (analyse, preview) {
                    (true, true) => " (preview traffic under analysis)",
                    (true, false) => " (under analysis)",
                    _ => "",
                }
            ),
            Step::Pause {
                millis: Some(ms),
                analyse,
                preview,
            } => write!(
                f,
                "pause {ms}ms{}",
                match (analyse, preview) {
                    (true, true) => ", then until a passing analysis of the preview traffic",
                    (true, false) => " under analysis",
                    _ => "",
                }
            ),
            Step::Promote { version } => write!(f, "promote {version}: all traffic"),
            Step::Stop {
                version,
                count: None,
            } => write!(f, "drain and stop every instance of {version}"),
            Step::Stop {
                version,
                count: Some(n),
            } => write!(f, "drain and stop {n} instance(s) of {version}"),
        }
    }
}

/// What a deploy or rollback will do, step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub service: String,
    /// The version serving before (the stable one), if any.
    pub from: Option<String>,
    pub to: String,
    /// `rolling`, `blue_green`, `canary`, `initial` or `rollback`.
    pub strategy: String,
    /// Milliseconds the rollout may go without progress (an instance created or ready, an
    /// old one scaled down) before it fails; see [`crate::progress`].
    pub progress_deadline_ms: u64,
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether its traffic weights are instance counts rather than percentages: a rolling
    /// update's weights follow the instances it starts and stops.
    pub fn weights_count_instances(&self) -> bool {
        self.strategy == "rolling"
    }
}

fn weights(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(v, w)| (v.to_string(), *w))
        .collect()
}

/// Plans a deploy of `to` replacing `from` with `strategy` (the service's own unless
/// overridden). Without a `from`, every strategy is a plain start.
pub fn plan_deploy(
    service_name: &str,
    service: &Service,
    from: Option<&str>,
    to: &str,
    strategy: &Strategy,
) -> Plan {
    let n = (*service.instances).max(1);
    let window_ms = service.analysis.as_ref().map(|a| a.window.as_millis());
    let mut steps = Vec::new();
    let kind;
    match from {
        None => {
            kind = "initial".to_string();
            steps.push(Step::Start {
                version: to.into(),
                count: n,
            });
            steps.push(Step::Weights {
                weights: weights(&[(to, 100)]),
            });
            steps.push(Step::Promote { version: to.into() });
        }
        Some(from) => match strategy {
            Strategy::Canary(c) => {
                kind = "canary".into();
                steps.push(Step::Start {
                    version: to.into(),
                    count: n,
                });
                for step in c.steps.iter() {
                    let w = u32::from((*step.weight).min(100));
                    steps.push(Step::Weights {
                        weights: weights(&[(to, w), (from, 100 - w)]),
                    });
                    steps.push(Step::Pause {
                        millis: step.pause.map(|d| d.as_millis()),
                        analyse: window_ms.is_some(),
                        preview: false,
                    });
                }
                steps.push(Step::Weights {
                    weights: weights(&[(to, 100)]),
                });
                steps.push(Step::Promote { version: to.into() });
                steps.push(Step::Stop {
                    version: from.into(),
                    count: None,
                });
            }
            Strategy::BlueGreen(b) => {
                kind = "blue_green".into();
                steps.push(Step::Start {
                    version: to.into(),
                    count: n,
                });
                let preview = b.preview_listen.is_some();
                if preview {
                    steps.push(Step::Preview { version: to.into() });
                }
                // Green's own traffic on the preview address can be judged before it takes
                // any production traffic: then an automatic promotion needs a passing window.
                let judged = preview && window_ms.is_some();
                let delay = b.auto_promote_delay.map_or(0, |d| d.as_millis());
                match b.auto_promote {
                    false => steps.push(Step::Pause {
                        millis: None,
                        analyse: judged,
                        preview: judged,
                    }),
                    true if judged => steps.push(Step::Pause {
                        millis: Some(delay.max(window_ms.unwrap_or(0))),
                        analyse: true,
                        preview: true,
                    }),
                    true if delay > 0 => steps.push(Step::Pause {
                        millis: Some(delay),
                        analyse: false,
                        preview: false,
                    }),
                    true => {}
                }
                steps.push(Step::Weights {
                    weights: weights(&[(to, 100)]),
                });
                steps.push(Step::Promote { version: to.into() });
                // Blue stays up (and analysis may still send traffic back to it) until
                // the scale-down delay is over.
                let delay = b.scale_down_delay.as_millis();
                if delay > 0 {
                    steps.push(Step::Pause {
                        millis: Some(delay),
                        analyse: window_ms.is_some(),
                        preview: false,
                    });
                }
                steps.push(Step::Stop {
                    version: from.into(),
                    count: None,
                });
            }
            Strategy::Rolling(r) => {
                kind = "rolling".into();
                let mut surge = r.max_surge.of(n, true);
                let unavailable = r.max_unavailable.of(n, false);
                if surge == 0 && unavailable == 0 {
                    surge = 1;
                }
                let (mut new, mut old) = (0u32, n);
                while new < n {
                    if surge > 0 {
                        let k = surge.min(n - new);
                        steps.push(Step::Start {
                            version: to.into(),
                            count: k,
                        });
                        new += k;
                        let stop = k.min(old);
                        old -= stop;
                        steps.push(Step::Weights {
                            weights: weights(&[(to, new), (from, old)]),
                        });
                        if stop > 0 {
                            steps.push(Step::Stop {
                                version: from.into(),
                                count: Some(stop),
                            });
                        }
                    } else {
                        // Only unavailability allowed: stop first, then start (with
                        // `instances: 1` this means a moment with no instance).
                        let k = unavailable.min(n - new).max(1);
                        let stop = k.min(old);
                        old -= stop;
                        steps.push(Step::Weights {
                            weights: weights(&[(to, new), (from, old)]),
                        });
                        steps.push(Step::Stop {
                            version: from.into(),
                            count: Some(stop),
                        });
                        steps.push(Step::Start {
                            version: to.into(),
                            count: k,
                        });
                        new += k;
                        steps.push(Step::Weights {
                            weights: weights(&[(to, new), (from, old)]),
                        });
                    }
                    if let Some(ms) = window_ms
                        && new < n
                    {
                        steps.push(Step::Pause {
                            millis: Some(ms),
                            analyse: true,
                            preview: false,
                        });
                    }
                }
                steps.push(Step::Promote { version: to.into() });
                if let Some(ms) = window_ms {
                    steps.push(Step::Pause {
                        millis: Some(ms),
                        analyse: true,
                        preview: false,
                    });
                }
                if old > 0 {
                    steps.push(Step::Stop {
                        version: from.into(),
                        count: None,
                    });
                }
            }
        },
    }
    Plan {
        service: service_name.into(),
        from: from.map(str::to_string),
        to: to.into(),
        strategy: kind,
        progress_deadline_ms: strategy.progress_deadline().as_millis(),
        steps,
    }
}

/// Plans a return to `stable` with `instances` instances, given how many instances of each
/// version exist now and how many of them are ready. Traffic moves to `stable` at once if
/// it has a ready instance, otherwise as soon as its new instances are ready; every other
/// version is then drained and stopped.
pub fn plan_rollback(
    service_name: &str,
    stable: &str,
    instances: u32,
    existing: &BTreeMap<String, (u32, u32)>,
    progress_deadline_ms: u64,
) -> Plan {
    let (have, ready) = existing.get(stable).copied().unwrap_or((0, 0));
    let missing = instances.max(1).saturating_sub(have);
    let mut steps = Vec::new();
    let switch = Step::Weights {
        weights: weights(&[(stable, 100)]),
    };
    if ready > 0 {
        steps.push(switch);
        if missing > 0 {
            steps.push(Step::Start {
                version: stable.into(),
                count: missing,
            });
        }
    } else {
        steps.push(Step::Start {
            version: stable.into(),
            count: missing.max(1),
        });
        steps.push(switch);
    }
    let from: Vec<&String> = existing
        .iter()
        .filter(|(v, (n, _))| v.as_str() != stable && *n > 0)
        .map(|(v, _)| v)
        .collect();
    for v in &from {
        steps.push(Step::Stop {
            version: (*v).clone(),
            count: None,
        });
    }
    Plan {
        service: service_name.into(),
        from: from.first().map(|v| (*v).clone()),
        to: stable.into(),
        strategy: "rollback".into(),
        progress_deadline_ms,
        steps,
    }
}

#[cfg(test)]
mod tests;
