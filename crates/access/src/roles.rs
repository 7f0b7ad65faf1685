//! The permission matrix: which role holds which permissions. Five built-in roles, and any
//! custom role gantry.yaml defines under `access.roles` with the permissions it names.

use std::collections::{BTreeMap, BTreeSet};

use crate::{AccessError, Permission};

use Permission::*;

/// The role that holds every permission; `.gantry/admin.token` is this role.
pub const ADMIN: &str = "admin";

const VIEWER: &[Permission] = &[Read];
const PLANNER: &[Permission] = &[Read, RunPipeline, CheckPlan];
const OPERATOR: &[Permission] = &[
    Read,
    Deploy,
    Promote,
    Pause,
    Resume,
    Abort,
    Rollback,
    EmergencyStop,
    Start,
    Reload,
    Approve,
];
const VERIFIER: &[Permission] = &[Read, Sign, Veto, Approve, VerifyLedger];

/// The built-in roles and their permissions (`admin` holds all of [`Permission::ALL`]).
pub const DEFAULT_ROLES: &[(&str, &[Permission])] = &[
    ("viewer", VIEWER),
    ("planner", PLANNER),
    ("operator", OPERATOR),
    ("verifier", VERIFIER),
    (ADMIN, Permission::ALL),
];

/// Role name → permissions: the defaults and the project's custom roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(BTreeMap<String, BTreeSet<Permission>>);

impl Default for Roles {
    fn default() -> Self {
        Roles(
            DEFAULT_ROLES
                .iter()
                .map(|(name, perms)| (name.to_string(), perms.iter().copied().collect()))
                .collect(),
        )
    }
}

impl Roles {
    /// The defaults plus `custom` roles. A custom role cannot redefine a built-in one (the
    /// config refuses that at its line and column); here a custom entry of the same name is
    /// ignored, so `admin` always holds everything.
    pub fn with_custom<I, P>(custom: I) -> Roles
    where
        I: IntoIterator<Item = (String, P)>,
        P: IntoIterator<Item = Permission>,
    {
        let mut roles = Roles::default();
        for (name, perms) in custom {
            roles
                .0
                .entry(name)
                .or_insert_with(|| perms.into_iter().collect());
        }
        roles
    }

    pub fn is_builtin(name: &str) -> bool {
        DEFAULT_ROLES.iter().any(|(n, _)| *n == name)
    }

    pub fn allows(&self, role: &str, permission: Permission) -> bool {
        self.0.get(role).is_some_and(|p| p.contains(&permission))
    }

    pub fn permissions(&self, role: &str) -> Option<&BTreeSet<Permission>> {
        self.0.get(role)
    }

    /// The role, or an error listing the known ones.
    pub fn check(&self, role: &str) -> Result<&BTreeSet<Permission>, AccessError> {
        self.0.get(role).ok_or_else(|| AccessError::UnknownRole {
            role: role.to_string(),
            known: self.names().join(", "),
        })
    }

    pub fn names(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }

    /// The roles that hold `permission`, for hints ("ask for an operator token").
    pub fn holding(&self, permission: Permission) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, p)| p.contains(&permission))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_follow_the_issue() {
        let r = Roles::default();
        assert!(r.allows("viewer", Read));
        assert!(!r.allows("viewer", Deploy));
        assert!(r.allows("planner", RunPipeline) && !r.allows("planner", Deploy));
        for p in [
            Deploy,
            Promote,
            Pause,
            Resume,
            Abort,
            Rollback,
            EmergencyStop,
            Start,
        ] {
            assert!(r.allows("operator", p), "{p}");
        }
        assert!(!r.allows("operator", ManageTokens) && !r.allows("operator", Sign));
        assert!(r.allows("verifier", Veto) && !r.allows("verifier", Rollback));
        for p in Permission::ALL {
            assert!(r.allows(ADMIN, *p), "{p}");
        }
        assert!(!r.allows("nobody", Read));
    }

    #[test]
    fn custom_roles_add_and_never_redefine() {
        let r = Roles::with_custom([
            ("deployer".to_string(), vec![Read, Deploy]),
            (ADMIN.to_string(), vec![Read]),
        ]);
        assert!(r.allows("deployer", Deploy) && !r.allows("deployer", Rollback));
        assert!(r.allows(ADMIN, ManageTokens));
        assert_eq!(r.holding(Deploy), vec!["admin", "deployer", "operator"]);
        let err = r.check("auditor").unwrap_err().to_string();
        assert!(
            err.contains("unknown role 'auditor'") && err.contains("deployer"),
            "{err}"
        );
    }
}
