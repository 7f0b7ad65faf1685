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
    /// The approval its environment asks for (`approval.*` entries), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalView>,
}

/// An approval as the ledger has it: requested, then granted or expired.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalView {
    pub role: String,
    pub env: String,
    /// RFC 3339.
    pub deadline: String,
    pub timeout_ms: u64,
    /// `requested`, `granted` or `expired`.
    pub state: String,
    /// `role (agent id)` of the `approval.granted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_seq: Option<u64>,
}

impl DeploymentView {
    /// Whether the deployment had not finished when the ledger ends.
    pub fn in_progress(&self) -> bool {
        let expired = self.approval.as_ref().is_some_and(|a| a.state == "expired");
        let over = matches!(self.phase.as_str(), "succeeded" | "rolled_back" | "aborted")
            || (self.phase == "failed" && (self.from.is_none() || expired));
        !over
    }

    /// Waiting for the approval its environment asks for (nothing started yet).
    pub fn awaiting_approval(&self) -> bool {
        self.phase == "awaiting_approval"
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
            || kind.starts_with("rollback.")
            || kind.starts_with("approval."))
        {
            return;
        }
        let service = self.services.entry(name).or_default();
        if let Some(what) = kind.strip_prefix("approval.") {
            service.apply_approval(entry, what);
        } else if let Some(phase) = kind.strip_prefix("deployment.state.") {
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
                approval: None,
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

    /// `approval.requested` opens a deployment that waits (it counts as one, and its
    /// `deployment.state.started` after the grant does not count again); `granted` and
    /// `expired` settle its approval.
    fn apply_approval(&mut self, entry: &Entry, what: &str) {
        let body = &entry.body;
        if what == "requested" {
            self.deployments += 1;
            self.deployment = Some(DeploymentView {
                id: str_field(body, "id"),
                from: opt_str(body, "from"),
                to: str_field(body, "version"),
                strategy: str_field(body, "strategy"),
                phase: "awaiting_approval".into(),
                reason: None,
                started_seq: entry.seq,
                updated_seq: entry.seq,
                approval: Some(ApprovalView {
                    role: str_field(body, "role"),
                    env: str_field(body, "env"),
                    deadline: str_field(body, "deadline"),
                    timeout_ms: body.get("timeout_ms").and_then(Value::as_u64).unwrap_or(0),
                    state: "requested".into(),
                    approved_by: None,
                    granted_seq: None,
                }),
            });
            return;
        }
        let id = str_field(body, "id");
        let Some(d) = self.deployment.as_mut().filter(|d| d.id == id) else {
            return;
        };
        let Some(a) = d.approval.as_mut().filter(|a| a.state == "requested") else {
            return;
        };
        d.updated_seq = entry.seq;
        match what {
            "granted" => {
                a.state = "granted".into();
                a.approved_by = Some(format!("{} ({})", entry.actor.role, entry.actor.id));
                a.granted_seq = Some(entry.seq);
            }
            "expired" => {
                a.state = "expired".into();
                d.phase = "failed".into();
                d.reason = opt_str(body, "reason");
            }
            _ => {}
        }
    }

    fn apply_phase(&mut self, entry: &Entry, phase: &str) {
        let body = &entry.body;
        if phase == "started" {
            let id = str_field(body, "id");
            // The start of a deployment that waited for its approval continues it.
            if let Some(d) = self
                .deployment
                .as_mut()
                .filter(|d| d.id == id && d.awaiting_approval())
            {
                d.phase = "started".into();
                d.updated_seq = entry.seq;
                return;
            }
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
                approval: None,
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

    #[test]
    fn a_deployment_that_waited_for_approval_counts_once_and_an_expired_one_is_over() {
        let req = |id: &str| {
            json!({"service": "web@prod", "id": id, "from": "v1", "version": "v2", "strategy": "canary",
                "env": "prod", "role": "verifier", "deadline": "2026-12-02T08:00:00Z", "timeout_ms": 1000})
        };
        let entries = [
            entry(1, "approval.requested", req("web@prod-1")),
            entry(
                2,
                "approval.granted",
                json!({"service": "web@prod", "id": "web@prod-1"}),
            ),
            entry(
                3,
                "deployment.state.started",
                json!({"service": "web@prod", "id": "web@prod-1", "from": "v1", "to": "v2"}),
            ),
            entry(
                4,
                "deployment.state.succeeded",
                json!({"service": "web@prod", "id": "web@prod-1"}),
            ),
            entry(5, "approval.requested", req("web@prod-2")),
            entry(
                6,
                "approval.expired",
                json!({"service": "web@prod", "id": "web@prod-2", "reason": "no approval"}),
            ),
            entry(
                7,
                "deployment.state.failed",
                json!({"service": "web@prod", "id": "web@prod-2", "reason": "no approval"}),
            ),
        ];
        let mut state = State::default();
        for e in &entries[..2] {
            state.apply(e);
        }
        // The verifier's grant is judged by the rule table: signed here by "gantry".
        assert_eq!(state.rejected.len(), 1);
        let state = State::replay(
            entries
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    if e.kind == "approval.granted" {
                        e.actor.role = "verifier".into();
                    }
                    e
                })
                .collect::<Vec<_>>()
                .iter(),
        );
        let web = &state.services.services["web@prod"];
        assert_eq!(web.deployments, 2);
        assert_eq!(web.stable.as_deref(), Some("v2"));
        let d = web.deployment.as_ref().unwrap();
        assert_eq!((d.id.as_str(), d.phase.as_str()), ("web@prod-2", "failed"));
        assert_eq!(d.approval.as_ref().unwrap().state, "expired");
        assert!(
            !d.in_progress(),
            "an expired approval started nothing to roll back"
        );
    }
}
