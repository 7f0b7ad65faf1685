//! What every service owner and its jobs share and never change: the configuration, the
//! driver, the ledger writer with its signers, and the allocator of instance ids. No
//! deployment state lives here; that is each service's owner's ([`crate::owner`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use gantry_config::{Config, Service};
use gantry_deploy::{Driver, DriverError, InstancePhase, InstanceSpec, InstanceStatus};
use gantry_ledger::{Entry, GroupCommitter, NewEntry, Signer};
use serde_json::Value;

use crate::ServerError;

/// Who an entry is attributed to. Operator requests (deploy, promote, pause, resume,
/// abort, rollback, emergency stop, start) are signed by the operator role; what the
/// control plane observes or decides by itself is signed by the system key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Operator,
    System,
}

pub(crate) struct Core {
    /// The configuration as last loaded (at start, or by a reload): a deployment takes
    /// what it needs when it starts, so a reload never changes one in progress.
    loaded: RwLock<Loaded>,
    pub driver: Arc<dyn Driver>,
    committer: GroupCommitter,
    system: Arc<Signer>,
    operator: Arc<Signer>,
    pub log_dir: PathBuf,
    /// The project directory (where gantry.yaml's relative paths, such as runbooks, are).
    pub root: PathBuf,
    /// Instance ids are `service-version-N`, N continuing the ledger's sequence so that an
    /// id never repeats across restarts; shared by every owner's jobs.
    next_instance: AtomicU64,
    /// The first ledger write that failed: from then on mutating calls are refused and the
    /// status is CRITICAL, since nothing the control plane does could be proven.
    ledger_failure: OnceLock<String>,
}

/// A configuration and when it was loaded.
#[derive(Clone)]
pub(crate) struct Loaded {
    pub config: Arc<Config>,
    /// RFC 3339, UTC.
    pub at: String,
}

impl Core {
    pub(crate) fn new(
        config: Config,
        driver: Arc<dyn Driver>,
        committer: GroupCommitter,
        system: Signer,
        operator: Signer,
        log_dir: PathBuf,
        first_instance: u64,
    ) -> Core {
        Core {
            loaded: RwLock::new(Loaded {
                config: Arc::new(config),
                at: now(),
            }),
            driver,
            committer,
            system: Arc::new(system),
            operator: Arc::new(operator),
            root: log_dir
                .parent()
                .and_then(std::path::Path::parent)
                .map(PathBuf::from)
                .unwrap_or_default(),
            log_dir,
            next_instance: AtomicU64::new(first_instance),
            ledger_failure: OnceLock::new(),
        }
    }

    /// The configuration as loaded now.
    pub(crate) fn config(&self) -> Arc<Config> {
        Arc::clone(&self.loaded().config)
    }

    pub(crate) fn loaded(&self) -> Loaded {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes `config` the one every later deployment, plan and read sees.
    pub(crate) fn replace_config(&self, config: Config) {
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Loaded {
            config: Arc::new(config),
            at: now(),
        };
    }

    /// The ledger file (a reload replays it for a service it adds).
    pub(crate) fn ledger_path(&self) -> &std::path::Path {
        self.committer.path()
    }

    pub(crate) fn ledger_failure(&self) -> Option<String> {
        self.ledger_failure.get().cloned()
    }

    /// Refuses a change once the ledger cannot be written.
    pub(crate) fn writable(&self) -> Result<(), ServerError> {
        match self.ledger_failure() {
            Some(why) => Err(ServerError::Unavailable {
                reason: format!(
                    "the control plane cannot write its ledger ({why}); it refuses every change until restarted with a writable ledger"
                ),
                retry_after: None,
            }),
            None => Ok(()),
        }
    }

    /// A "no such service" error, with when the running config was loaded and how to load
    /// a newer one.
    pub(crate) fn with_reload_hint(&self, e: ServerError) -> ServerError {
        match e {
            ServerError::NotFound(m) => ServerError::NotFound(format!(
                "{m} (as the control plane loaded gantry.yaml at {}; if you added it since, run `gantry reload`)",
                self.loaded().at
            )),
            other => other,
        }
    }

    /// A copy of the settings of the service a target runs (`web`, or `web@staging`), as
    /// loaded now.
    pub(crate) fn service_config(&self, target: &str) -> Result<Service, ServerError> {
        let loaded = self.loaded();
        let config = &loaded.config;
        let (name, env) = gantry_config::split_target(target);
        let hint = |e: ServerError| self.with_reload_hint(e);
        let exact = crate::targets::resolve(config, name, env).map_err(hint)?;
        if exact != target {
            // `web` where environments are declared: say which targets exist.
            return Err(crate::targets::resolve(config, name, None)
                .err()
                .unwrap_or_else(|| {
                    ServerError::NotFound(format!("no target '{target}'; it is '{exact}'"))
                }));
        }
        config
            .service(name)
            .map(|s| s.value.clone())
            .map_err(|unknown| hint(ServerError::NotFound(unknown.to_string())))
    }

    /// `service` has no release `version` in the config as loaded: says when it was
    /// loaded and how to load a newer one.
    pub(crate) fn no_release(&self, service: &str, version: &str, svc: &Service) -> ServerError {
        ServerError::BadRequest(format!(
            "service '{service}' has no release '{version}' in gantry.yaml as the control plane \
             loaded it at {}; releases: {}; if you added it since, run `gantry reload`",
            self.loaded().at,
            svc.releases.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    }

    /// Appends one entry (durable on return). A ledger failure keeps traffic flowing but
    /// is loud: it is remembered, every later mutating call is refused and `ps` is CRITICAL.
    pub(crate) async fn record(&self, by: By, kind: &str, body: Value) -> Option<Entry> {
        self.record_batch(vec![(by, kind.to_string(), body)])
            .await
            .and_then(|mut v| v.pop())
    }

    /// Appends entries in order as one write (one fsync): all durable on return, or none
    /// (then the failure is remembered as for `record`).
    pub(crate) async fn record_batch(&self, items: Vec<(By, String, Value)>) -> Option<Vec<Entry>> {
        let caller = crate::Caller::current();
        let kinds: Vec<String> = items.iter().map(|(_, k, _)| k.clone()).collect();
        let batch: Vec<(Arc<Signer>, NewEntry)> = items
            .into_iter()
            .map(|(by, kind, mut body)| {
                let signer = match by {
                    By::Operator => Arc::clone(&self.operator),
                    By::System => Arc::clone(&self.system),
                };
                if by == By::Operator
                    && let (Some(caller), Some(fields)) = (&caller, body.as_object_mut())
                {
                    fields.insert("caller".into(), serde_json::json!(caller));
                }
                (signer, NewEntry::new(&kind, body))
            })
            .collect();
        let committer = self.committer.clone();
        let kind = kinds.join(", ");
        match tokio::task::spawn_blocking(move || committer.append_batch(batch)).await {
            Ok(Ok(e)) => Some(e),
            Ok(Err(err)) => {
                tracing::error!(%kind, error = %err, "cannot write ledger entry");
                let _ = self.ledger_failure.set(format!("{kind}: {err}"));
                None
            }
            Err(err) => {
                tracing::error!(%kind, error = %err, "ledger writer task failed");
                let _ = self
                    .ledger_failure
                    .set(format!("{kind}: ledger writer task failed: {err}"));
                None
            }
        }
    }

    /// Appends one entry signed by `signer` (a role key the control plane holds, such as
    /// a checkpoint's role), durable on return; a failure is remembered as for `record`.
    pub(crate) async fn record_as(
        &self,
        signer: Arc<Signer>,
        kind: &str,
        body: Value,
    ) -> Result<Entry, ServerError> {
        let committer = self.committer.clone();
        let batch = vec![(signer, NewEntry::new(kind, body))];
        let written = tokio::task::spawn_blocking(move || committer.append_batch(batch))
            .await
            .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
        match written.map(|mut v| v.pop()) {
            Ok(Some(e)) => Ok(e),
            Ok(None) => Err(ServerError::Io(std::io::Error::other(format!(
                "{kind}: the ledger wrote nothing"
            )))),
            Err(err) => {
                tracing::error!(%kind, error = %err, "cannot write ledger entry");
                let _ = self.ledger_failure.set(format!("{kind}: {err}"));
                Err(ServerError::Ledger(err))
            }
        }
    }

    pub(crate) fn spec(&self, service: &str, version: &str) -> Result<InstanceSpec, DriverError> {
        let svc = self
            .service_config(service)
            .map_err(|_| DriverError::Other(format!("no service '{service}'")))?;
        // A release of gantry.yaml, else a git tag built for `releases_from`.
        let (command, release_env) = match svc.releases.get(version) {
            Some(r) => (r.run.value.clone(), r.env.clone()),
            None => {
                let (builds, built) = self.built(service, version).ok_or_else(|| {
                    DriverError::Other(format!("service '{service}' has no release '{version}'"))
                })?;
                (
                    crate::git_build::run_command(&builds.git, &built),
                    BTreeMap::new(),
                )
            }
        };
        let mut env = svc.env.clone();
        env.extend(release_env);
        let n = self.next_instance.fetch_add(1, Ordering::Relaxed);
        Ok(InstanceSpec {
            service: service.into(),
            version: version.into(),
            instance: format!("{service}-{version}-{n}"),
            command,
            env,
            health: svc.health.clone(),
            log_dir: self.log_dir.join(service),
            limits: gantry_deploy::Limits {
                cpu_millis: svc
                    .resources
                    .as_ref()
                    .and_then(|r| r.cpu.as_ref())
                    .map(|c| c.millis()),
                memory_bytes: svc
                    .resources
                    .as_ref()
                    .and_then(|r| r.memory.as_ref())
                    .map(|m| m.bytes()),
            },
        })
    }

    /// Drains and stops `count` instances of `version` (all when `None`), concurrently.
    pub(crate) async fn stop_version(&self, service: &str, version: &str, count: Option<u32>) {
        let mut victims: Vec<InstanceStatus> = self
            .driver
            .instances(service)
            .into_iter()
            .filter(|i| i.version == version && i.phase != InstancePhase::Stopping)
            .collect();
        // Unready ones first: they serve nothing.
        victims.sort_by_key(|i| i.ready);
        if let Some(n) = count {
            victims.truncate(n as usize);
        }
        let mut set = tokio::task::JoinSet::new();
        for v in victims {
            let driver = Arc::clone(&self.driver);
            let service = service.to_string();
            set.spawn(async move { driver.stop(&service, &v.instance).await });
        }
        while set.join_next().await.is_some() {}
    }

    /// Instance counts (all, ready) by version.
    pub(crate) fn counts(&self, service: &str) -> BTreeMap<String, (u32, u32)> {
        let mut out: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for i in self.driver.instances(service) {
            if i.phase == InstancePhase::Stopping {
                continue;
            }
            let e = out.entry(i.version.clone()).or_default();
            e.0 += 1;
            e.1 += u32::from(i.ready);
        }
        out
    }
}

/// Now, as the ledger writes timestamps.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
