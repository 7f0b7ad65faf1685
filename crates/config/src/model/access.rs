//! `access:`: custom roles for API and MCP tokens, each naming the permissions it holds.
//! The built-in roles (`viewer`, `planner`, `operator`, `verifier`, `admin`) need no entry.
//!
//! ```yaml
//! access:
//!   roles:
//!     deployer: { permissions: [read, deploy, rollback] }
//!   budgets:
//!     operator: { actions_per_hour: 60, deploys_per_day: 10, tokens_per_day: 200000 }
//!     deployer: { deploys_per_day: 3 }
//! ```
//!
//! `budgets` sits beside `roles` because it is about the same names: any role a token can
//! be created for (built-in or custom) except `admin`, the role that must always be able
//! to act.

use std::collections::BTreeMap;

use gantry_access::budgets::Limits;
use gantry_access::{Permission, Roles};
use serde::{Deserialize, Serialize};

use crate::Spanned;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Custom roles by name; a role in `agents:` that is not built in gets its API
    /// permissions here.
    #[serde(default, deserialize_with = "super::null_default")]
    pub roles: BTreeMap<String, Spanned<CustomRole>>,
    /// Agent budgets by role name; a role without an entry is not budgeted.
    #[serde(
        default,
        deserialize_with = "super::null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub budgets: BTreeMap<String, Spanned<RoleBudget>>,
}

/// A role's budgets, each a positive count; an absent one is unlimited. Windows are UTC
/// clock hours and UTC days.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBudget {
    /// Allowed mutating API and MCP calls per UTC hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_per_hour: Option<Spanned<u64>>,
    /// Deployments started through the API or MCP per UTC day (rollbacks do not count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploys_per_day: Option<Spanned<u64>>,
    /// Tokens the role's agents report using per UTC day; once spent, every mutating call
    /// is refused until 00:00 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<Spanned<u64>>,
}

impl RoleBudget {
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            actions_per_hour: self.actions_per_hour.as_ref().map(|v| v.value),
            deploys_per_day: self.deploys_per_day.as_ref().map(|v| v.value),
            tokens_per_day: self.tokens_per_day.as_ref().map(|v| v.value),
        }
    }

    /// Each limit written, with its config key.
    pub fn each(&self) -> impl Iterator<Item = (&'static str, &Spanned<u64>)> {
        [
            ("actions_per_hour", self.actions_per_hour.as_ref()),
            ("deploys_per_day", self.deploys_per_day.as_ref()),
            ("tokens_per_day", self.tokens_per_day.as_ref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRole {
    /// Stable permission names (`read`, `deploy`, `emergency_stop`, …).
    pub permissions: Vec<Spanned<Permission>>,
}

impl Access {
    /// The permission matrix: the built-in roles and these.
    #[must_use]
    pub fn roles(&self) -> Roles {
        Roles::with_custom(
            self.roles
                .iter()
                .map(|(n, r)| (n.clone(), r.permissions.iter().map(|p| p.value))),
        )
    }

    /// Each budgeted role's limits.
    #[must_use]
    pub fn budget_limits(&self) -> BTreeMap<String, Limits> {
        self.budgets
            .iter()
            .map(|(role, b)| (role.clone(), b.limits()))
            .collect()
    }
}
