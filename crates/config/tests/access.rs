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
    let yaml = with_access("    approver: { permissions: [read, approve] }\n");
    let e = err(&yaml);
    assert_eq!(e.code(), "gantry::config::access_not_supported", "{e}");
    assert_eq!((e.line(), e.column()), {
        let at = pos_in(&yaml, "[read, approve]", "approve");
        (Some(at.0), Some(at.1))
    });
    assert!(
        e.message().contains("'approve' is not supported yet"),
        "{e}"
    );
    let yaml = with_access("    x: { permisions: [read] }\n");
    assert!(err(&yaml).to_string().contains("permisions"));
}
