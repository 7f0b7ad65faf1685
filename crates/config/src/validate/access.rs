//! `access.roles`: a custom role may not reuse a built-in name (`admin` must hold
//! everything and `viewer` must mean read-only wherever a token is shown), and must hold
//! at least one permission (a role that can do nothing is a mistake, not a setting).

use gantry_access::Roles;

use super::Problems;
use crate::Config;

pub(crate) fn check_access(config: &Config, p: &mut Problems<'_>) {
    for (name, role) in &config.access.roles {
        if Roles::is_builtin(name) {
            p.add(
                role.pos,
                "gantry::config::access_builtin_role",
                "a built-in role",
                format!(
                    "access.roles.{name}: '{name}' is a built-in role and cannot be redefined; \
                     give the custom role another name"
                ),
            );
        } else if role.permissions.is_empty() {
            p.add(
                role.pos,
                "gantry::config::access_empty_role",
                "no permissions",
                format!(
                    "access.roles.{name} has no permissions; list what it may do, e.g. \
                     `permissions: [read]`"
                ),
            );
        }
        for perm in &role.permissions {
            if !perm.is_enforced() {
                p.add(
                    perm.pos,
                    "gantry::config::access_not_supported",
                    "not supported yet",
                    format!(
                        "access.roles.{name}: permission '{}' is not supported yet: no API route \
                         or MCP tool checks it, so granting it would do nothing",
                        perm.value
                    ),
                );
            }
        }
    }
}
