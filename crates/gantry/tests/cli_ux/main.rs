//! Operator experience of the CLI (issue 11): what agents and shells rely on — JSON errors,
//! closed pipes, help, completions, Ctrl-C — driven through the real binary.

mod check;
mod completions;
mod evidence;
mod git_releases;
mod guarded_rollback;
mod help;
mod history;
mod instance_logs;
mod interrupt;
mod json_errors;
mod logs;
mod pipes;
mod watch;

use gantry_test_support::TestProject;

pub const BIN: &str = env!("CARGO_BIN_EXE_gantry");

pub fn project() -> TestProject {
    TestProject::init(BIN)
}

/// Every subcommand path (`["ledger", "show"]`, …), read from the `Commands:` sections of
/// `--help`, so a command added later is walked too.
pub fn subcommands(p: &TestProject) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = p.gantry(&args).ok().stdout();
        for name in section(&help, "Commands:")
            .into_iter()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|n| n != "help")
        {
            let mut child = path.clone();
            child.push(name);
            todo.push(child.clone());
            found.push(child);
        }
    }
    found.sort();
    found
}

/// The entry lines of a `--help` section (`Commands:`, `Arguments:`): lines indented by
/// exactly two spaces up to the next blank line.
pub fn section(help: &str, title: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != title)
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(str::to_string)
        .collect()
}

/// A peer this test needs: present, or (with `CI` set) a failure, or else a printed skip.
pub fn have(tool: &str) -> bool {
    let present = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set, so `{tool}` must be installed"
        );
        eprintln!("skipped: `{tool}` is not installed");
    }
    present
}
