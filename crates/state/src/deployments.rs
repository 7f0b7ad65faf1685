//! Services and deployments folded from `deployment.*`, `instance.*`, `traffic.*`,
//! `rollback.*` and `control.*` entries: which version is stable, the traffic split, the
//! latest deployment, and the instances believed alive (with pid and process group, so a
//! restarted control plane can find its orphans).

use std::collections::BTreeMap;

use gantry_ledger::Entry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::str_field;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Services {
    pub services: BTreeMap<String, ServiceView>,
    /// Set by `control.emergency_stop`, cleared by `control.started` after it.
    pub emergency_stop: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    /// The version that last took all traffic for good (deploy succeeded or rolled back
    /// to).
    pub stable: Option<String>,
    /// When the stable version became stable (the entry's `ts`): how long it has soaked.
    #[serde(default)]
    pub stable_since: Option<String>,
    /// The versions the stable one replaced, oldest first (for `rollback` without `--to`).
    pub history: Vec<String>,
    pub weights: BTreeMap<String, u32>,
    pub deployments: u64,
    pub deployment: Option<DeploymentView>,
    pub instances: BTreeMap<String, InstanceView>,
    /// The figures of the last automatic rollback.
    pub last_rollback: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    pub id: String,
    pub from: Option<String>,
    pub to: String,
    pub strategy: String,
    pub phase: String,
    pub reason: Option<String>,
    pub started_seq: u64,
    pub updated_seq: u64,
}

impl DeploymentView {
    /// Whether the deployment had not finished when the ledger ends.
    pub fn in_progress(&self) -> bool {
        let over = matches!(self.phase.as_str(), "succeeded" | "rolled_back" | "aborted")
            || (self.phase == "failed" && self.from.is_none());
        !over
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceView {
    pub version: String,
    pub pid: Option<u64>,
    pub pgid: Option<i64>,
    pub addr: Option<String>,
    /// Process start time (clock ticks since boot): with the pid, names one process, so
    /// a restarted control plane can adopt it safely.
    #[serde(default)]
    pub start_time: Option<u64>,
    pub status: String,
    pub restarts: u64,
}

fn opt_str(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

impl Services {
    pub(crate) fn apply(&mut self, entry: &Entry) {
        let body = &entry.body;
        let kind = entry.kind.as_str();
        match kind {
            "control.emergency_stop" => {
                self.emergency_stop = true;
                for s in self.services.values_mut() {
                    s.weights.clear();
                }
                return;
            }
            "control.started" => {
                if body.get("after_emergency_stop").and_then(Value::as_bool) == Some(true) {
                    self.emergency_stop = false;
                }
                return;
            }
            _ => {}
        }
        let Some(name) = opt_str(body, "service") else {
            return;
        };
        if !(kind.starts_with("deployment.")
            || kind.starts_with("instance.")
            || kind.starts_with("traffic.")
            || kind.starts_with("rollback."))
        {
            return;
        }
        let service = self.services.entry(name).or_default();
        if let Some(phase) = kind.strip_prefix("deployment.state.") {
            service.apply_phase(entry, phase);
        } else if let Some(what) = kind.strip_prefix("instance.") {
            service.apply_instance(body, what);
        } else if kind == "traffic.shifted" {
            if let Some(w) = body.get("weights").and_then(Value::as_object) {
                service.weights = w
                    .iter()
                    .filter_map(|(v, w)| Some((v.clone(), u32::try_from(w.as_u64()?).ok()?)))
                    .collect();
            }
        } else if kind == "rollback.triggered" {
            service.last_rollback = Some(body.clone());
        } else if kind == "rollback.planned" {
            service.deployments += 1;
            service.deployment = Some(DeploymentView {
                id: str_field(body, "id"),
                from: opt_str(body, "from"),
                to: str_field(body, "to"),
                strategy: "rollback".into(),
                phase: "progressing".into(),
                reason: opt_str(body, "reason"),
                started_seq: entry.seq,
                updated_seq: entry.seq,
            });
        }
    }
}

impl ServiceView {
    fn set_stable(&mut self, version: String, ts: &str) {
        if self.stable.as_deref() != Some(version.as_str()) {
            self.stable_since = Some(ts.to_string());
        }
        if let Some(old) = self.stable.take()
            && old != version
        {
            self.history.retain(|v| *v != old);
            self.history.push(old);
        }
        self.history.retain(|v| *v != version);
        self.stable = Some(version);
    }

    fn apply_phase(&mut self, entry: &Entry, phase: &str) {
        let body = &entry.body;
        if phase == "started" {
            self.deployments += 1;
            self.deployment = Some(DeploymentView {
                id: str_field(body, "id"),
                from: opt_str(body, "from"),
                to: str_field(body, "to"),
                strategy: str_field(body, "strategy"),
                phase: "started".into(),
                reason: None,
                started_seq: entry.seq,
                updated_seq: entry.seq,
            });
            return;
        }
        let Some(d) = self.deployment.as_mut() else {
            return;
        };
        d.phase = phase.to_string();
        d.updated_seq = entry.seq;
        if let Some(r) = opt_str(body, "reason") {
            d.reason = Some(r);
        }
        match phase {
            "succeeded" => {
                let to = d.to.clone();
                self.set_stable(to, &entry.ts);
            }
            "rolled_back" => {
                if let Some(to) = opt_str(body, "to") {
                    self.set_stable(to, &entry.ts);
                }
            }
            _ => {}
        }
    }

    fn apply_instance(&mut self, body: &Value, what: &str) {
        let id = str_field(body, "instance");
        match what {
            "stopped" | "killed" => {
                self.instances.remove(&id);
            }
            "started" | "restarted" | "adopted" => {
                let inst = self.instances.entry(id).or_default();
                inst.version = str_field(body, "version");
                inst.pid = body.get("pid").and_then(Value::as_u64);
                inst.pgid = body.get("pgid").and_then(Value::as_i64);
                inst.addr = opt_str(body, "addr");
                inst.start_time = body.get("start_time").and_then(Value::as_u64);
                inst.restarts = body.get("restarts").and_then(Value::as_u64).unwrap_or(0);
                inst.status = "starting".into();
            }
            other => {
                if let Some(inst) = self.instances.get_mut(&id) {
                    inst.status = other.to_string();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use gantry_ledger::Entry;
    use serde_json::json;

    use crate::State;

    fn entry(seq: u64, kind: &str, body: serde_json::Value) -> Entry {
        crate::test_entry(seq, "gantry", kind, body)
    }

    #[test]
    fn folds_a_deploy_a_rollback_and_instances() {
        let entries = [
            entry(
                1,
                "deployment.state.started",
                json!({"service": "web", "id": "web-1", "to": "v1", "strategy": "initial"}),
            ),
            entry(
                2,
                "instance.started",
                json!({"service": "web", "instance": "i1", "version": "v1", "pid": 10, "pgid": 10}),
            ),
            entry(
                3,
                "traffic.shifted",
                json!({"service": "web", "weights": {"v1": 100}}),
            ),
            entry(
                4,
                "deployment.state.succeeded",
                json!({"service": "web", "id": "web-1"}),
            ),
            entry(
                5,
                "deployment.state.started",
                json!({"service": "web", "id": "web-2", "from": "v1", "to": "v2", "strategy": "canary"}),
            ),
            entry(
                6,
                "instance.started",
                json!({"service": "web", "instance": "i2", "version": "v2", "pid": 11, "pgid": 11}),
            ),
            entry(
                7,
                "rollback.triggered",
                json!({"service": "web", "id": "web-2", "error_rate": 0.5}),
            ),
            entry(
                8,
                "instance.stopped",
                json!({"service": "web", "instance": "i2"}),
            ),
            entry(
                9,
                "deployment.state.rolled_back",
                json!({"service": "web", "id": "web-2", "to": "v1", "reason": "error rate"}),
            ),
        ];
        let state = State::replay(&entries);
        let web = &state.services.services["web"];
        assert_eq!(web.stable.as_deref(), Some("v1"));
        assert_eq!(web.deployments, 2);
        let d = web.deployment.as_ref().unwrap();
        assert_eq!(
            (d.phase.as_str(), d.reason.as_deref()),
            ("rolled_back", Some("error rate"))
        );
        assert!(!d.in_progress());
        assert_eq!(web.instances.keys().collect::<Vec<_>>(), ["i1"]);
        assert_eq!(web.instances["i1"].pgid, Some(10));
        assert!(web.last_rollback.is_some());
    }

    #[test]
    fn an_unfinished_deployment_is_in_progress_and_history_remembers_versions() {
        let entries = [
            entry(
                1,
                "deployment.state.started",
                json!({"service": "web", "id": "web-1", "to": "v1"}),
            ),
            entry(
                2,
                "deployment.state.succeeded",
                json!({"service": "web", "id": "web-1"}),
            ),
            entry(
                3,
                "deployment.state.started",
                json!({"service": "web", "id": "web-2", "from": "v1", "to": "v2"}),
            ),
            entry(
                4,
                "deployment.state.succeeded",
                json!({"service": "web", "id": "web-2"}),
            ),
            entry(
                5,
                "deployment.state.started",
                json!({"service": "web", "id": "web-3", "from": "v2", "to": "v3"}),
            ),
            entry(
                6,
                "deployment.state.progressing",
                json!({"service": "web", "id": "web-3"}),
            ),
            entry(7, "control.emergency_stop", json!({})),
        ];
        let state = State::replay(&entries);
        let web = &state.services.services["web"];
        assert_eq!(web.history, ["v1"]);
        assert!(web.deployment.as_ref().unwrap().in_progress());
        assert!(state.services.emergency_stop);
    }
}
