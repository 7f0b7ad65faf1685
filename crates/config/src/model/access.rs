//! `access:`: custom roles for API and MCP tokens, each naming the permissions it holds.
//! The built-in roles (`viewer`, `planner`, `operator`, `verifier`, `admin`) need no entry.
//!
//! ```yaml
//! access:
//!   roles:
//!     deployer: { permissions: [read, deploy, rollback] }
//! ```

use std::collections::BTreeMap;

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
}
