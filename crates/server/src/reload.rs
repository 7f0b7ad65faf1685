//! Config reload (`gantry reload`, `SIGHUP`): gantry.yaml is read and validated again; on
//! any error the running config stays and the errors are returned with their locations.
//! A valid one replaces the config for everything that starts afterwards — deploys, plans,
//! rollbacks, the status report — while a deployment in progress keeps the settings it
//! started with. Services it adds get their owner and listener at once. What a running
//! control plane cannot change in place (a service's removal, its listen address, its
//! router settings) is refused, naming the key, rather than accepted and ignored.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gantry_config::{Config, Service};
use gantry_state::State;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::ServerError;
use crate::app::App;
use crate::command::{Command, Control, RestorePlan};
use crate::core::By;
use crate::owner;

/// What a reload did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// sha256 of gantry.yaml as read, hex.
    pub sha256: String,
    /// Services new in this config: each has its owner and listener now.
    pub added: Vec<String>,
    /// Services whose settings changed: they apply from each one's next deployment.
    pub changed: Vec<String>,
    /// Whether anything differs from the config running before.
    pub identical: bool,
    /// The `config.reloaded` entry's sequence number.
    pub seq: Option<u64>,
}

/// Reads and validates `path` as `gantry serve` does at start. The error lists every
/// problem with its file:line:column.
pub fn load(path: &Path, env: &BTreeMap<String, String>) -> Result<(Config, String), ServerError> {
    let text = std::fs::read(path).map_err(|e| {
        ServerError::BadRequest(format!(
            "cannot read {}: {e}; the running config stays",
            path.display()
        ))
    })?;
    let sha256 = hex::encode(Sha256::digest(&text));
    let text = String::from_utf8(text).map_err(|_| {
        ServerError::BadRequest(format!(
            "{} is not UTF-8; the running config stays",
            path.display()
        ))
    })?;
    match gantry_config::check_with_env(&path.display().to_string(), &text, env) {
        Ok(config) => Ok((config, sha256)),
        Err(problems) => Err(ServerError::BadRequest(format!(
            "gantry.yaml is not valid; the running config stays:\n{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ))),
    }
}

/// This process's environment now (for `${VAR}` in gantry.yaml), non-UTF-8 entries left out.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

impl App {
    /// Makes `config` (read from a file whose sha256 is `sha256`) the running config, or
    /// refuses it and keeps the old one. Recorded as `config.reloaded` (by the operator
    /// when a caller asked, by the system on `SIGHUP`).
    pub async fn reload(
        self: &Arc<Self>,
        config: Config,
        sha256: String,
        by: By,
    ) -> Result<Reloaded, ServerError> {
        let _one = self.reloading.lock().await;
        self.core.writable()?;
        if !*self.restored.borrow() {
            return Err(ServerError::Unavailable {
                reason:
                    "the control plane is restoring services after a restart; reload again shortly"
                        .into(),
                retry_after: Some(1),
            });
        }
        let old = self.core.config();
        refuse_in_place_changes(&old, &config)?;
        let running = self.owners();
        let new_targets = crate::targets::targets(&config);
        let added: Vec<&crate::targets::Target> = new_targets
            .iter()
            .filter(|t| !running.contains_key(&t.name))
            .collect();
        let changed: Vec<String> = config
            .services
            .iter()
            .filter(|(n, s)| old.services.get(*n).is_some_and(|o| o.value != s.value))
            .map(|(n, _)| n.clone())
            .collect();
        let identical = *old == config;
        for t in &added {
            let (service, _) = gantry_config::split_target(&t.name);
            let svc = &config.services[service].value;
            self.core.driver.configure(&t.name, svc);
            self.core.driver.open(&t.name, t.listen.0)?;
        }
        let added: Vec<String> = added.into_iter().map(|t| t.name.clone()).collect();
        self.core.replace_config(config);
        self.add_owners(&added).await?;
        let entry = self
            .core
            .record(
                by,
                "config.reloaded",
                json!({"sha256": sha256, "added": added, "changed": changed, "identical": identical}),
            )
            .await;
        Ok(Reloaded {
            sha256,
            added,
            changed,
            identical,
            seq: entry.map(|e| e.seq),
        })
    }

    /// Starts an owner for each added service, seeded from the ledger (a service that was
    /// configured before keeps its history and its ids), and has it restore its stable
    /// version if it had one.
    async fn add_owners(self: &Arc<Self>, added: &[String]) -> Result<(), ServerError> {
        if added.is_empty() {
            return Ok(());
        }
        let entries = gantry_ledger::read_entries(self.core.ledger_path())?.entries;
        let (state, _) = State::replay_admitted(&entries);
        let emergency = *self.emergency.borrow();
        let mut answers = Vec::new();
        for name in added {
            let svc = self.core.service_config(name)?;
            let mut seed = crate::recovery::seed(&self.core, name, &svc, &state);
            seed.emergency = emergency;
            let handle = {
                let mut tasks = self
                    .tasks
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                owner::spawn(
                    name.clone(),
                    Arc::clone(&self.core),
                    Arc::clone(&self.past),
                    seed,
                    &mut tasks,
                    self.stop_owners.clone(),
                )
            };
            self.owners
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(name.clone(), handle.clone());
            let (reply, rx) = oneshot::channel();
            let plan = RestorePlan {
                interrupted: None,
                adopted: Vec::new(),
                emergency,
            };
            let cmd = Command::Control(Control::Restore {
                plan: Box::new(plan),
                reply,
            });
            if handle.tx.send(cmd).await.is_ok() {
                answers.push(rx);
            }
        }
        for rx in answers {
            let _ = rx.await;
        }
        for name in added {
            crate::scale::spawn_for(self, name);
        }
        Ok(())
    }
}

/// What only a restart can change, refused with where it is written.
fn refuse_in_place_changes(old: &Config, new: &Config) -> Result<(), ServerError> {
    let mut problems = top_level_changes(old, new);
    let now_targets = crate::targets::targets(new);
    for was in crate::targets::targets(old) {
        let Some(now) = now_targets.iter().find(|t| t.name == was.name) else {
            problems.push(format!(
                "'{}' is gone from gantry.yaml (its service or environment was removed): a \
                 reload adds and changes services but cannot remove one that has a listener; \
                 put it back, or restart `gantry serve`",
                was.name
            ));
            continue;
        };
        if was.listen.0 != now.listen.0 {
            let (service, env) = gantry_config::split_target(&was.name);
            let key = match env {
                Some(e) => format!("environments.{e}.local.listen.{service}"),
                None => format!("services.{service}.listen"),
            };
            let pos = new
                .services
                .get(service)
                .filter(|_| env.is_none())
                .map(|s| at(&s.listen.pos))
                .unwrap_or_default();
            problems.push(format!(
                "{pos}{key} changed from {} to {}: a listener cannot move under a running \
                 control plane; restart `gantry serve` to move it",
                was.listen.0, now.listen.0
            ));
        }
    }
    for (name, was) in &old.services {
        let Some(now) = new.services.get(name) else {
            continue;
        };
        if router_changed(was, now) {
            problems.push(format!(
                "services.{name}.router changed: the router's settings apply when the listener \
                 opens; restart `gantry serve` to apply them"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ServerError::Conflict(format!(
            "the reload was refused and the running config stays: {}",
            problems.join("; ")
        )))
    }
}

/// Top-level keys `gantry serve` reads once, at start: a change to one is refused by a
/// reload (said, not silently kept old). `services` (added and changed ones), `pipelines`
/// (read by `gantry run` itself) and `policy` (read at every check) apply on reload.
const READ_AT_START: &[(&str, &str)] = &[
    ("project", "the ledger's origin and seals name it"),
    ("ledger", "the ledger is opened with these settings"),
    ("agents", "role keys are loaded at start"),
    ("access", "the API's roles are built at start"),
    (
        "monitor",
        "the probe schedule and targets are set up at start",
    ),
    ("notify", "notification channels are set up at start"),
    ("alerts", "alert rules are set up at start"),
    ("status", "the GitHub status issue sync is set up at start"),
];

fn top_level_changes(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["the config could not be compared; restart `gantry serve`".into()];
    };
    READ_AT_START
        .iter()
        .filter(|(key, _)| old.get(*key) != new.get(*key))
        .map(|(key, why)| format!("`{key}` changed ({why}); restart `gantry serve` to apply it"))
        .collect()
}

fn router_changed(was: &Service, now: &Service) -> bool {
    was.router != now.router
}

fn at(pos: &gantry_config::Pos) -> String {
    if pos.is_known() {
        format!("gantry.yaml:{pos}: ")
    } else {
        String::new()
    }
}
