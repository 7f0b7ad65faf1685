//! Pipeline steps: a shell command or a built-in action, with per-step controls.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::StrategyKind;
use crate::units::{Duration, quote, string_serde};
use crate::{Spanned, StringList};

/// One step. It has exactly one action key — `run`, `deploy`, `smoke`, `doctor` or
/// `status` — plus optional controls.
///
/// ```yaml
/// steps:
///   - { name: test, run: cargo test, timeout: 10m, retries: 1, heartbeat: 15s }
///   - { deploy: web, version: v2, env: staging }
///   - { smoke: "GET / == 200" }
///   - { name: roll back, run: gantry rollback web, if: failure() }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Name shown in logs and reports. Default: derived from the action. Any text without
    /// control characters: log file names are derived from it by a slug, never used as is.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// Shell command (run with `sh -c` in its own process group).
    #[serde(default)]
    pub run: Option<Spanned<String>>,
    /// Built-in action: deploy this service (from `services:`).
    #[serde(default)]
    pub deploy: Option<Spanned<String>>,
    /// Built-in action: an HTTP smoke check against the deployed service, e.g.
    /// `"GET / == 200"`.
    #[serde(default)]
    pub smoke: Option<Spanned<String>>,
    /// Built-in action: environment checks (`true` or a mapping of options). Not
    /// supported yet: `gantry check` refuses it at its line.
    #[serde(default)]
    pub doctor: Option<Spanned<Toggle<DoctorStep>>>,
    /// Built-in action: refresh the status report (`true` or a mapping of options). Not
    /// supported yet: `gantry check` refuses it at its line.
    #[serde(default)]
    pub status: Option<Spanned<Toggle<StatusStep>>>,
    /// For `deploy`: the release to deploy. Default: the newest release by name.
    #[serde(default)]
    pub version: Option<Spanned<String>>,
    /// For `deploy`: a strategy overriding the service's (`rolling`, `blue-green`,
    /// `canary`).
    #[serde(default)]
    pub strategy: Option<Spanned<StrategyKind>>,
    /// Environment variables for the step (a mapping), or for `deploy` the target
    /// environment name (`env: staging`).
    #[serde(default)]
    pub env: Spanned<StepEnv>,
    /// Kill the step (its whole process group) after this long. Default: no limit.
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Extra attempts after a failure. Default: 0.
    #[serde(default)]
    pub retries: u32,
    /// Working directory, relative to the project root. Default: the project root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// A failure of this step does not fail the stage. Default: false.
    #[serde(default)]
    pub continue_on_error: bool,
    /// Run only if the outcome so far matches: `success()` (default), `failure()`,
    /// `always()`.
    #[serde(default, rename = "if")]
    pub condition: Option<Condition>,
    /// While running, append an ISO-8601 line to `heartbeat.log` this often.
    #[serde(default)]
    pub heartbeat: Option<Duration>,
    /// Files the step produces, relative to the project root and inside it; hashed into
    /// the run's `sha256_manifest.txt`.
    #[serde(default, deserialize_with = "super::null_default")]
    pub artefacts: StringList,
}

/// A step's action, borrowed from a validated [`Step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepAction<'a> {
    /// `run:` a shell command.
    Run(&'a str),
    /// `deploy:` a service.
    Deploy {
        /// Service name.
        service: &'a str,
        /// Release to deploy, if given.
        version: Option<&'a str>,
        /// Target environment, if given.
        environment: Option<&'a str>,
        /// Strategy override, if given.
        strategy: Option<StrategyKind>,
    },
    /// `smoke:` check.
    Smoke(&'a str),
    /// `doctor:` checks.
    Doctor(&'a DoctorStep),
    /// `status:` report.
    Status(&'a StatusStep),
}

impl Step {
    /// The action keys present, with their positions (exactly one after validation).
    pub(crate) fn action_keys(&self) -> Vec<(&'static str, crate::Pos)> {
        let mut keys = Vec::new();
        if let Some(v) = &self.run {
            keys.push(("run", v.pos));
        }
        if let Some(v) = &self.deploy {
            keys.push(("deploy", v.pos));
        }
        if let Some(v) = &self.smoke {
            keys.push(("smoke", v.pos));
        }
        if let Some(v) = &self.doctor {
            keys.push(("doctor", v.pos));
        }
        if let Some(v) = &self.status {
            keys.push(("status", v.pos));
        }
        keys
    }

    /// The step's action; `None` only for a config that failed validation.
    #[must_use]
    pub fn action(&self) -> Option<StepAction<'_>> {
        if let Some(cmd) = &self.run {
            return Some(StepAction::Run(cmd));
        }
        if let Some(service) = &self.deploy {
            return Some(StepAction::Deploy {
                service,
                version: self.version.as_deref().map(String::as_str),
                environment: self.env.target(),
                strategy: self.strategy.as_deref().copied(),
            });
        }
        if let Some(check) = &self.smoke {
            return Some(StepAction::Smoke(check));
        }
        if let Some(d) = &self.doctor {
            return Some(StepAction::Doctor(&d.0));
        }
        self.status.as_ref().map(|s| StepAction::Status(&s.0))
    }

    /// The name shown for the step: `name`, else the action (`run: cargo test`).
    #[must_use]
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.value.clone();
        }
        match self.action() {
            Some(StepAction::Run(cmd)) => format!("run: {cmd}"),
            Some(StepAction::Deploy { service, .. }) => format!("deploy: {service}"),
            Some(StepAction::Smoke(check)) => format!("smoke: {check}"),
            Some(StepAction::Doctor(_)) => "doctor".to_string(),
            Some(StepAction::Status(_)) => "status".to_string(),
            None => "step".to_string(),
        }
    }
}

/// Options of a `doctor:` step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorStep {
    /// Required tools, optionally with a minimum version (`git`, `cargo >= 1.89`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// Environment variables that must be set.
    #[serde(default)]
    pub env: Vec<String>,
    /// Services that must be reachable. Default: empty, meaning every configured service.
    #[serde(default)]
    pub services: Vec<String>,
    /// Run the remediations the policy authorises. Default: false.
    #[serde(default)]
    pub fix: bool,
}

/// Options of a `status:` step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusStep {
    /// Report format. Default: markdown.
    #[serde(default)]
    pub format: StatusFormat,
    /// Write the report to this path, relative to the project root and inside it (not
    /// under `.gantry/`).
    #[serde(default)]
    pub output: Option<Spanned<String>>,
    /// Also sync the report to the project's GitHub status issue. Default: false.
    #[serde(default)]
    pub issue: bool,
}

/// Status report format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFormat {
    /// Markdown.
    #[default]
    Markdown,
    /// JSON.
    Json,
}

/// A built-in action's options, written as `true` (all defaults) or as a mapping.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Toggle<T>(pub T);

impl<T> std::ops::Deref for Toggle<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Toggle<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
            type Value = Toggle<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true` or a mapping of options")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Toggle<T>, E> {
                if v {
                    Ok(Toggle(T::default()))
                } else {
                    Err(E::custom(
                        "`false` does not make a step; write `true` or a mapping of options, or remove the step",
                    ))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Toggle<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Toggle)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A step's `env:`: variables (a mapping), or for `deploy` steps an environment name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepEnv {
    /// Environment variables for the step.
    Vars(BTreeMap<String, String>),
    /// The environment a `deploy` step targets (`env: staging`).
    Target(String),
}

impl Default for StepEnv {
    fn default() -> Self {
        StepEnv::Vars(BTreeMap::new())
    }
}

impl StepEnv {
    /// The variables (empty for a target name).
    #[must_use]
    pub fn vars(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            StepEnv::Vars(v) => Some(v),
            StepEnv::Target(_) => None,
        }
    }

    /// The target environment name, if this is one.
    #[must_use]
    pub fn target(&self) -> Option<&str> {
        match self {
            StepEnv::Target(t) => Some(t),
            StepEnv::Vars(_) => None,
        }
    }
}

impl Serialize for StepEnv {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StepEnv::Vars(v) => v.serialize(s),
            StepEnv::Target(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for StepEnv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StepEnv;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of environment variables, or an environment name for deploy")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StepEnv, E> {
                Ok(StepEnv::Target(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StepEnv, A::Error> {
                BTreeMap::deserialize(de::value::MapAccessDeserializer::new(map)).map(StepEnv::Vars)
            }
        }
        d.deserialize_any(V)
    }
}

/// When a step or stage runs, relative to the outcome of what ran before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `success()`: only if nothing has failed (the default).
    #[default]
    Success,
    /// `failure()`: only if something has failed (rollback steps).
    Failure,
    /// `always()`: in any case.
    Always,
}

impl Condition {
    /// Whether something with this condition runs, given whether anything failed so far.
    #[must_use]
    pub fn should_run(&self, failed_so_far: bool) -> bool {
        match self {
            Condition::Success => !failed_so_far,
            Condition::Failure => failed_so_far,
            Condition::Always => true,
        }
    }
}

impl FromStr for Condition {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "success()" => Ok(Condition::Success),
            "failure()" => Ok(Condition::Failure),
            "always()" => Ok(Condition::Always),
            _ => Err(format!(
                "invalid condition {}; expected success(), failure() or always()",
                quote(text)
            )),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::Success => "success()",
            Condition::Failure => "failure()",
            Condition::Always => "always()",
        })
    }
}

string_serde!(Condition, "success(), failure() or always()");
