//! The permission names. They are stable strings: they appear in `access:` of gantry.yaml,
//! in API and MCP refusals and in `access.denied` ledger entries, so a name never changes
//! once released; new permissions are added, never renamed.

use serde::{Deserialize, Serialize};

macro_rules! permissions {
    ($($variant:ident = $name:literal: $what:literal,)*) => {
        /// One thing a role may do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Permission {
            $(#[doc = $what] $variant,)*
        }

        impl Permission {
            /// Every permission, in the order of the documentation.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            /// The stable name (`deploy`, `emergency_stop`, …).
            pub fn name(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }

            /// What the permission lets a caller do, for docs and `token list`.
            pub fn describe(self) -> &'static str {
                match self {
                    $(Permission::$variant => $what,)*
                }
            }
        }
    };
}

permissions! {
    Read = "read": "read status, ps, deployments, runs, logs, the ledger and the API description",
    RunPipeline = "run_pipeline": "run a pipeline",
    CheckPlan = "check_plan": "check a plan against the policy gate",
    Deploy = "deploy": "deploy a version of a service (also: update one component)",
    Promote = "promote": "end a deployment's pause, or skip every remaining step",
    Pause = "pause": "pause a running deployment",
    Resume = "resume": "resume a deployment the operator paused",
    Abort = "abort": "abort a running deployment (traffic back to the stable version)",
    Rollback = "rollback": "roll a service back to an earlier version (also the dry run)",
    EmergencyStop = "emergency_stop": "stop every service at once",
    Start = "start": "end an emergency stop",
    Sign = "sign": "sign a checkpoint",
    Veto = "veto": "veto a checkpoint or a service (the decision log)",
    VerifyLedger = "verify_ledger": "verify the ledger",
    ManageTokens = "manage_tokens": "create, list and revoke tokens",
    OverridePolicy = "override_policy": "override a policy-gate veto",
    Approve = "approve": "approve a service (clearing its vetoes) or a deploy awaiting its environment's approval",
    Shutdown = "shutdown": "stop the control plane (`gantry serve --stop`)",
    Reload = "reload": "reload gantry.yaml into the running control plane (`gantry reload`)",
}

impl Permission {
    /// Whether an API route or MCP tool checks this permission today. The others are
    /// named so that the built-in roles and documentation are stable, but `access:` in
    /// gantry.yaml refuses to grant them until their feature exists.
    pub fn is_enforced(self) -> bool {
        use Permission::*;
        matches!(
            self,
            Read | RunPipeline
                | Sign
                | Veto
                | Deploy
                | Promote
                | Pause
                | Resume
                | Abort
                | Rollback
                | EmergencyStop
                | Start
                | ManageTokens
                | Shutdown
                | Reload
                | OverridePolicy
                | VerifyLedger
                | Approve
        )
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown permission '{s}'; permissions: {}",
                    Permission::ALL
                        .iter()
                        .map(|p| p.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        for p in Permission::ALL {
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, serde_json::Value::String(p.name().into()));
            assert_eq!(p.name().parse::<Permission>().unwrap(), *p);
        }
        let err = "deploi".parse::<Permission>().unwrap_err();
        assert!(err.contains("unknown permission 'deploi'") && err.contains("emergency_stop"));
    }
}
