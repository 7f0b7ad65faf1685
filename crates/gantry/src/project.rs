//! A gantry project on disk: `gantry.yaml` and the `.gantry/` directory beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use gantry_agents::{KeySource, KeyStore};
use gantry_config::Config;
use gantry_ledger::{Entry, Ledger, LedgerOptions, Signer};
use gantry_state::State;

use crate::exit;

pub const CONFIG_FILE: &str = "gantry.yaml";
pub const SYSTEM_ROLE: &str = "gantry";

pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// The project named by `-C`, else the nearest directory upwards holding gantry.yaml,
    /// else the current directory (so `init` works in a new one).
    pub fn locate(dir: Option<&Path>) -> anyhow::Result<Project> {
        if let Some(dir) = dir {
            return Ok(Project {
                root: dir.to_path_buf(),
            });
        }
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        let root = cwd
            .ancestors()
            .find(|d| d.join(CONFIG_FILE).is_file())
            .unwrap_or(&cwd)
            .to_path_buf();
        Ok(Project { root })
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    pub fn gantry_dir(&self) -> PathBuf {
        self.root.join(".gantry")
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.gantry_dir().join("ledger.jsonl")
    }

    pub fn state_path(&self) -> PathBuf {
        self.gantry_dir().join("state.json")
    }

    pub fn keys(&self) -> KeyStore {
        KeyStore::new(self.gantry_dir().join("keys"))
    }

    /// Loads gantry.yaml; errors are rendered with the offending line and exit 2.
    ///
    /// Declared secrets are checked against this process's environment as well, so every
    /// command (`check`, and `run` before it starts anything) refuses one too short to mask.
    pub fn config(&self) -> anyhow::Result<Config> {
        let path = self.config_path();
        if !path.is_file() {
            return Err(exit::usage(format!(
                "no {CONFIG_FILE} in {}: run `gantry init` there, or pass -C DIR",
                self.root.display()
            )));
        }
        let env = process_env();
        match gantry_config::load_with_env(&path, &env) {
            Ok(config) => Ok(config),
            Err(err @ gantry_config::ConfigError::Invalid(_)) => {
                // The file parsed, so it is readable UTF-8: report every problem at once.
                let problems = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| {
                        gantry_config::check_with_env(&path.display().to_string(), &text, &env)
                            .err()
                    })
                    .unwrap_or_else(|| vec![err]);
                Err(exit::config_invalid(render_config_errors(problems)))
            }
            Err(err) => Err(exit::config_invalid(render_config_errors(vec![err]))),
        }
    }

    pub fn ledger_options(&self, config: &Config) -> LedgerOptions {
        LedgerOptions {
            seal_every: Some(config.ledger.seal_every),
            origin: origin(config),
            // Auto-seals are signed by the system key; without it (e.g. a CI job holding only
            // its role's key) entries are still appended, just not sealed by this process.
            sealer: self.system_signer().ok(),
        }
    }

    /// The ledger's path, or a usage error saying how to create one.
    pub fn existing_ledger(&self) -> anyhow::Result<PathBuf> {
        let path = self.ledger_path();
        if !path.exists() {
            return Err(exit::usage(format!(
                "no ledger at {}: run `gantry init` first",
                path.display()
            )));
        }
        Ok(path)
    }

    pub fn open_ledger(&self, config: &Config) -> anyhow::Result<Ledger> {
        let path = self.existing_ledger()?;
        Ledger::open(&path, self.ledger_options(config))
            .with_context(|| format!("cannot open {}", path.display()))
    }

    /// Entries as they are on disk now (readers never take the write lock).
    pub fn entries(&self) -> anyhow::Result<Vec<Entry>> {
        let path = self.existing_ledger()?;
        Ok(gantry_ledger::read_entries(&path)?.entries)
    }

    pub fn state(&self) -> anyhow::Result<State> {
        Ok(State::replay(&self.entries()?))
    }

    pub fn system_signer(&self) -> anyhow::Result<Signer> {
        let (key, _) = self.keys().load(SYSTEM_ROLE).map_err(exit::usage)?;
        Ok(Signer::new(SYSTEM_ROLE, SYSTEM_ROLE, key))
    }

    /// The signer for `role`: its key must be registered in the ledger and be the active one.
    pub fn signer_for(&self, state: &State, role: &str) -> anyhow::Result<(Signer, KeySource)> {
        let agent = state.agents.get(role).ok_or_else(|| {
            exit::usage(format!(
                "unknown role '{role}': no key is registered for it; known roles: {}; \
                 register one with `gantry agent keygen {role}`",
                state.agents.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let (key, source) = self.keys().load(role).map_err(exit::usage)?;
        let signer = Signer::new(role, agent.id.clone(), key);
        let active = agent.active_key().map(|k| k.fingerprint.as_str());
        if active != Some(signer.fingerprint().as_str()) {
            return Err(exit::usage(format!(
                "the key for role '{role}' from {source} ({}) is not the registered active key ({}); \
                 it may be an old key from before a rotation",
                signer.fingerprint(),
                active.unwrap_or("none")
            )));
        }
        Ok((signer, source))
    }
}

/// The environment as text; a variable that is not UTF-8 cannot be a value gantry.yaml
/// names, so it is left out rather than failing (`std::env::vars` would panic on it).
pub(crate) fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

pub fn origin(config: &Config) -> String {
    config
        .ledger
        .origin
        .clone()
        .unwrap_or_else(|| format!("gantry/{}", config.project))
}

fn render_config_errors(errors: Vec<gantry_config::ConfigError>) -> String {
    let count = errors.len();
    let mut out = String::new();
    for err in errors {
        // The headline carries file:line:column; miette's report adds the source snippet.
        let report = miette::Report::new_boxed(err.into_diagnostic());
        out.push_str(&format!("{report:?}\n"));
    }
    if count > 1 {
        out.push_str(&format!("{count} problems in the configuration\n"));
    }
    out.trim_end().to_string()
}
