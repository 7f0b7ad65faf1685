//! `access.roles`: a custom role may not reuse a built-in name (`admin` must hold
//! everything and `viewer` must mean read-only wherever a token is shown), and must hold
//! at least one permission (a role that can do nothing is a mistake, not a setting).

use gantry_access::budgets::MAX_COUNT;
use gantry_access::{ADMIN, Roles};

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

/// `access.budgets`: each entry names a role tokens can be made for (else the budget would
/// never meet a call), not `admin` (the role that must always be able to stop and repair),
/// and sets at least one positive limit (0 would refuse every call: take the permission
/// away instead).
pub(crate) fn check_budgets(config: &Config, p: &mut Problems<'_>) {
    let roles = config.access.roles();
    for (name, budget) in &config.access.budgets {
        if name == ADMIN {
            p.add(
                budget.pos,
                "gantry::config::budget_admin",
                "admin is never budgeted",
                "access.budgets.admin: the admin role is not budgeted, so that someone can \
                 always stop and repair; budget the roles agents use"
                    .to_string(),
            );
        } else if roles.permissions(name).is_none() {
            p.add(
                budget.pos,
                "gantry::config::budget_unknown_role",
                "not a role",
                format!(
                    "access.budgets.{name}: no role '{name}'; budgets apply to the roles tokens \
                     are made for: {} (add a custom role under access.roles)",
                    roles
                        .names()
                        .into_iter()
                        .filter(|r| *r != ADMIN)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        if budget.each().next().is_none() {
            p.add(
                budget.pos,
                "gantry::config::budget_empty",
                "no limits",
                format!(
                    "access.budgets.{name} sets no limit; set actions_per_hour, deploys_per_day \
                     or tokens_per_day, or remove the entry"
                ),
            );
        }
        for (key, value) in budget.each() {
            if value.value > MAX_COUNT {
                p.add(
                    value.pos,
                    "gantry::config::budget_too_large",
                    "too large",
                    format!(
                        "access.budgets.{name}.{key} is {}; the largest limit is {MAX_COUNT} \
                         (leave the key out for no limit)",
                        value.value
                    ),
                );
            }
            if value.value == 0 {
                p.add(
                    value.pos,
                    "gantry::config::budget_zero",
                    "must be at least 1",
                    format!(
                        "access.budgets.{name}.{key} is 0, which would refuse every call; \
                         use a positive limit, or take the permission away from the role"
                    ),
                );
            }
        }
    }
}
