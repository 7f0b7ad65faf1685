//! `access:`: custom roles with stable permission names, each problem at its line and column.

mod support;

use gantry_access::Permission;
use support::{BASE, err, ok, pos_in};

fn with_access(access: &str) -> String {
    format!("{BASE}access:\n  roles:\n{access}")
}

#[test]
fn a_custom_role_holds_exactly_the_permissions_it_names() {
    let cfg = ok(&with_access(
        "    deployer: { permissions: [read, deploy, rollback] }\n",
    ));
    let roles = cfg.access.roles();
    assert!(roles.allows("deployer", Permission::Deploy));
    assert!(!roles.allows("deployer", Permission::EmergencyStop));
    assert!(roles.allows("operator", Permission::EmergencyStop));
    assert!(ok(BASE).access.roles.is_empty());
}

#[test]
fn an_unknown_permission_is_located_and_lists_the_names() {
    let yaml = with_access("    deployer: { permissions: [read, deploi] }\n");
    let e = err(&yaml);
    let at = pos_in(&yaml, "[read, deploi]", "deploi");
    assert_eq!((e.line(), e.column()), (Some(at.0), Some(at.1)), "{e}");
    let shown = e.to_string();
    assert!(
        shown.contains("deploi") && shown.contains("emergency_stop"),
        "{shown}"
    );
}

#[test]
fn built_in_names_and_empty_roles_are_refused() {
    let yaml = with_access("    admin: { permissions: [read] }\n");
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::access_builtin_role", "{e}");
    assert_eq!(e.line(), Some(pos_in(&yaml, "admin:", "admin").0), "{e}");
    assert!(e.message().contains("built-in role"), "{e}");
    let yaml = with_access("    idle: { permissions: [] }\n");
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::access_empty_role", "{e}");
    let yaml = with_access("    checker: { permissions: [read, check_plan] }\n");
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::access_not_supported", "{e}");
    assert_eq!((e.line(), e.column()), {
        let at = pos_in(&yaml, "[read, check_plan]", "check_plan");
        (Some(at.0), Some(at.1))
    });
    assert!(
        e.message().contains("'check_plan' is not supported yet"),
        "{e}"
    );
    let yaml = with_access("    x: { permisions: [read] }\n");
    assert!(err(&yaml).to_string().contains("permisions"));
}

fn with_budgets(budgets: &str) -> String {
    format!(
        "{BASE}access:\n  roles:\n    deployer: {{ permissions: [read, deploy] }}\n  budgets:\n{budgets}"
    )
}

#[test]
fn budgets_sit_with_the_roles_and_give_each_role_its_limits() {
    let cfg = ok(&with_budgets(
        "    operator: { actions_per_hour: 60, deploys_per_day: 10, tokens_per_day: 200000 }\n    deployer: { deploys_per_day: 3 }\n",
    ));
    let limits = cfg.access.budget_limits();
    assert_eq!(limits["operator"].actions_per_hour, Some(60));
    assert_eq!(limits["operator"].tokens_per_day, Some(200_000));
    assert_eq!(limits["deployer"].deploys_per_day, Some(3));
    assert_eq!(limits["deployer"].actions_per_hour, None);
    assert!(ok(BASE).access.budgets.is_empty());
}

#[test]
fn budget_mistakes_are_located() {
    let yaml = with_budgets("    opertor: { deploys_per_day: 3 }\n");
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::budget_unknown_role", "{e}");
    assert_eq!(
        e.line(),
        Some(pos_in(&yaml, "opertor:", "opertor").0),
        "{e}"
    );
    assert!(
        e.message().contains("no role 'opertor'") && e.message().contains("deployer, operator"),
        "{e}"
    );

    let yaml = with_budgets("    admin: { actions_per_hour: 5 }\n");
    assert_eq!(err(&yaml).code(), "gantry::config::budget_admin");

    let yaml = with_budgets("    operator: { deploys_per_day: 0 }\n");
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::budget_zero", "{e}");
    let at = pos_in(&yaml, "deploys_per_day: 0", "0");
    assert_eq!((e.line(), e.column()), (Some(at.0), Some(at.1)), "{e}");

    let yaml = with_budgets("    operator: { tokens_per_day: 9007199254740993 }\n");
    assert_eq!(err(&yaml).code(), "gantry::config::budget_too_large");

    let yaml = with_budgets("    operator: {}\n");
    assert_eq!(err(&yaml).code(), "gantry::config::budget_empty");

    let yaml = with_budgets("    operator: { deploys_per_hour: 2 }\n");
    let shown = err(&yaml).to_string();
    assert!(
        shown.contains("deploys_per_hour") && shown.contains("deploys_per_day"),
        "{shown}"
    );

    let yaml = with_budgets("    operator: { tokens_per_day: -5 }\n");
    let e = err(&yaml);
    let at = pos_in(&yaml, "tokens_per_day: -5", "-5");
    assert_eq!(e.line(), Some(at.0), "{e}");
}
