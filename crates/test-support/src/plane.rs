//! The control plane in-process, against a [`FakeDriver`], for tests in `crates/server`
//! that control every instance and (with `tokio::time::pause()`) the clock. The project is
//! real: a `gantry.yaml`-equivalent config, a ledger with a registered operator key, and
//! the entries the control plane writes are read back from that file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gantry_ledger::{Entry, Ledger, LedgerOptions, Signer, generate_key, read_entries};
use gantry_server::{App, ControlPlane, CoreOptions};
use serde_json::Value;

use crate::fake_driver::FakeDriver;

pub const OPERATOR_ID: &str = "OperationsBoardAgent";

/// A service `web` with releases v1, v2, v3 (their commands are never run), `instances`
/// per version, the given strategy and optional analysis.
pub fn config(instances: u32, strategy: &str, analysis: Option<&str>) -> String {
    let analysis = analysis.map_or_else(String::new, |a| format!("    analysis: {a}\n"));
    format!(
        r#"project: test
agents:
  operator: {{ id: {OPERATOR_ID} }}
services:
  web:
    listen: 127.0.0.1:1
    instances: {instances}
    releases:
      v1: {{ run: "fake v1" }}
      v2: {{ run: "fake v2" }}
      v3: {{ run: "fake v3" }}
    strategy: {strategy}
{analysis}"#
    )
}

/// A project directory with its ledger and keys; control planes are started over it.
pub struct Project {
    dir: tempfile::TempDir,
    yaml: String,
    system: Signer,
    operator: Signer,
}

impl Project {
    pub fn new(yaml: &str) -> Project {
        let dir = tempfile::Builder::new()
            .prefix("gantry-plane-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir_all(dir.path().join(".gantry")).expect(".gantry");
        let system = Signer::system(generate_key());
        let operator = Signer::new("operator", OPERATOR_ID, generate_key());
        let ledger = Ledger::create(&dir.path().join(".gantry/ledger.jsonl"), &system, "test")
            .expect("create ledger");
        ledger
            .register_agent(&system, "operator", OPERATOR_ID, &operator.verifying_key())
            .expect("register operator");
        Project {
            dir,
            yaml: yaml.to_string(),
            system,
            operator,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.path().join(".gantry/ledger.jsonl")
    }

    /// A control plane over this project with a new fake driver.
    pub async fn start(&self) -> Plane {
        let (driver, events) = FakeDriver::new();
        self.start_with(driver, events).await
    }

    /// A control plane over this project with `driver` (set up before it starts, e.g. with
    /// held starts for recovery).
    pub async fn start_with(
        &self,
        driver: Arc<FakeDriver>,
        events: tokio::sync::mpsc::Receiver<gantry_deploy::InstanceEvent>,
    ) -> Plane {
        let config = gantry_config::parse("gantry.yaml", &self.yaml).expect("test config");
        let ledger = Ledger::open(
            &self.ledger_path(),
            LedgerOptions {
                seal_every: None,
                origin: "test".into(),
                sealer: None,
            },
        )
        .expect("open ledger");
        let opts = CoreOptions {
            config,
            ledger,
            system: self.system.clone(),
            operator: self.operator.clone(),
            gantry_dir: self.path().join(".gantry"),
            driver: Arc::clone(&driver) as Arc<dyn gantry_deploy::Driver>,
            events,
        };
        let plane = ControlPlane::start(opts, None)
            .await
            .expect("start control plane");
        Plane { plane, driver }
    }

    /// Every entry in the ledger file now.
    pub fn entries(&self) -> Vec<Entry> {
        read_entries(&self.ledger_path())
            .expect("read ledger")
            .entries
    }

    /// The `deployment.state.*` phases recorded for deployment `id`, in ledger order.
    pub fn phases(&self, id: &str) -> Vec<String> {
        self.entries()
            .iter()
            .filter(|e| e.body.get("id").and_then(Value::as_str) == Some(id))
            .filter_map(|e| e.kind.strip_prefix("deployment.state.").map(str::to_string))
            .collect()
    }

    /// Kinds of every entry, in order.
    pub fn kinds(&self) -> Vec<String> {
        self.entries().into_iter().map(|e| e.kind).collect()
    }
}

/// A running in-process control plane and its driver.
pub struct Plane {
    pub plane: ControlPlane,
    pub driver: Arc<FakeDriver>,
}

impl Plane {
    pub fn app(&self) -> &Arc<App> {
        self.plane.app()
    }

    /// Waits until `id` is done (succeeded, rolled back, aborted, or a failed first
    /// deploy); panics after `limit` (in the test's clock).
    pub async fn until_done(&self, id: &str, limit: Duration) -> gantry_deploy::DeploymentStatus {
        self.until_status(id, limit, "done", |s| s.is_done()).await
    }

    /// Waits until the status of `id` satisfies `cond`.
    pub async fn until_status(
        &self,
        id: &str,
        limit: Duration,
        what: &str,
        cond: impl Fn(&gantry_deploy::DeploymentStatus) -> bool,
    ) -> gantry_deploy::DeploymentStatus {
        let app = Arc::clone(self.app());
        let wait = async {
            loop {
                if let Ok(s) = app.deployment(id)
                    && cond(&s)
                {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        match tokio::time::timeout(limit, wait).await {
            Ok(s) => s,
            Err(_) => panic!(
                "deployment {id} not {what} after {limit:?}: {:?}",
                app.deployment(id).map(|s| (s.phase, s.current, s.reason))
            ),
        }
    }
}
