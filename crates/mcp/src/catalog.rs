//! Which permission each tool needs and whether it changes anything: what `tools/list`
//! filters by (the session's role, `--read-only`). The names are the API's permission
//! names, so a refusal names the same permission whichever interface was used.

/// One tool as the filters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolInfo {
    pub name: &'static str,
    /// The permission the API route behind the tool needs.
    pub permission: &'static str,
    /// Reads only: kept by `gantry mcp --read-only`.
    pub read_only: bool,
}

const fn tool(name: &'static str, permission: &'static str, read_only: bool) -> ToolInfo {
    ToolInfo {
        name,
        permission,
        read_only,
    }
}

/// Every tool the server offers.
pub const TOOLS: &[ToolInfo] = &[
    tool("status", "read", true),
    tool("ps", "read", true),
    tool("deployment", "read", true),
    tool("ledger_show", "read", true),
    tool("ledger_verify", "verify_ledger", true),
    tool("runs", "read", true),
    tool("logs", "read", true),
    tool("run_pipeline", "run_pipeline", false),
    tool("sign_checkpoint", "sign", false),
    tool("veto", "veto", false),
    tool("decisions", "read", true),
    tool("decision_veto", "veto", false),
    tool("decision_approve", "approve", false),
    tool("approve_deployment", "approve", false),
    tool("deploy", "deploy", false),
    tool("promote", "promote", false),
    tool("pause", "pause", false),
    tool("resume", "resume", false),
    tool("abort", "abort", false),
    tool("rollback", "rollback", false),
    tool("emergency_stop", "emergency_stop", false),
    tool("start", "start", false),
];

pub fn find(name: &str) -> Option<&'static ToolInfo> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Whether a session holding `permissions` (and `read_only` or not) sees `tool`.
pub fn visible(tool: &ToolInfo, permissions: &[String], read_only: bool) -> bool {
    (!read_only || tool.read_only) && permissions.iter().any(|p| p == tool.permission)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_viewer_sees_only_read_tools_and_read_only_hides_every_mutating_tool() {
        let viewer: Vec<_> = TOOLS
            .iter()
            .filter(|t| visible(t, &perms(&["read"]), false))
            .map(|t| t.name)
            .collect();
        assert_eq!(
            viewer,
            [
                "status",
                "ps",
                "deployment",
                "ledger_show",
                "runs",
                "logs",
                "decisions"
            ]
        );
        let verifier: Vec<_> = TOOLS
            .iter()
            .filter(|t| {
                visible(
                    t,
                    &perms(&["read", "sign", "veto", "approve", "verify_ledger"]),
                    false,
                )
            })
            .filter(|t| !t.read_only || t.name == "ledger_verify")
            .map(|t| t.name)
            .collect();
        assert_eq!(
            verifier,
            [
                "ledger_verify",
                "sign_checkpoint",
                "veto",
                "decision_veto",
                "decision_approve",
                "approve_deployment"
            ]
        );
        let all: Vec<String> = TOOLS.iter().map(|t| t.permission.to_string()).collect();
        assert_eq!(
            TOOLS.iter().filter(|t| visible(t, &all, false)).count(),
            TOOLS.len()
        );
        assert!(
            TOOLS
                .iter()
                .filter(|t| visible(t, &all, true))
                .all(|t| t.read_only)
        );
        assert!(find("deploy").is_some_and(|t| !t.read_only && t.permission == "deploy"));
        assert!(find("nothing").is_none());
    }
}
