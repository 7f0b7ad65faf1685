//! Every subcommand's `--help` shows an example and says what each positional argument is.

use crate::{project, section, subcommands};

#[test]
fn every_subcommand_has_examples_and_describes_its_arguments() {
    let p = project();
    let commands = subcommands(&p);
    assert!(commands.len() > 30, "walked too few commands: {commands:?}");
    let mut problems = Vec::new();
    for path in &commands {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = p.gantry(&args).ok().stdout();
        let name = path.join(" ");
        let examples = section(&help, "Examples:");
        if !examples
            .iter()
            .any(|l| l.trim_start().starts_with("gantry "))
        {
            problems.push(format!("`gantry {name} --help` has no example"));
        }
        for (i, arg) in section(&help, "Arguments:").iter().enumerate() {
            let rest = arg.trim_start().split_once(['>', ']']);
            let described = rest.is_some_and(|(_, d)| !d.trim().is_empty());
            // A long description may start on the next, deeper-indented line.
            let next_line = help
                .lines()
                .skip_while(|l| l.trim() != "Arguments:")
                .nth(i + 2)
                .is_some_and(|l| l.starts_with("          ") && !l.trim().is_empty());
            if !described && !next_line {
                problems.push(format!(
                    "`gantry {name}`: argument {} is not described",
                    arg.trim()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn one_spelling_for_blue_green_and_for_waiting() {
    let p = project();
    let deploy = p.gantry(&["deploy", "--help"]).ok().stdout();
    assert!(deploy.contains("blue-green"), "{deploy}");
    assert!(!deploy.contains("blue_green"), "{deploy}");
    for cmd in ["deploy", "rollback"] {
        let help = p.gantry(&[cmd, "--help"]).ok().stdout();
        assert!(
            help.contains("--wait") && help.contains("--no-wait"),
            "{cmd}: {help}"
        );
    }
    // Both flags parse on both commands (the last one wins); the old spelling still parses.
    // No control plane runs here, so each gets as far as connecting: exit 5, not 2.
    for args in [
        &["deploy", "web", "--version", "v1", "--wait", "--no-wait"][..],
        &[
            "deploy",
            "web",
            "--version",
            "v1",
            "--strategy",
            "blue_green",
        ],
        &[
            "deploy",
            "web",
            "--version",
            "v1",
            "--strategy",
            "blue-green",
            "--no-wait",
        ],
        &["rollback", "web", "--no-wait", "--wait"],
    ] {
        p.gantry(args).fails_with(5).says("not running");
    }
}

#[test]
fn yaml_takes_blue_green_in_both_spellings() {
    let p = project();
    for spelling in ["blue-green", "blue_green"] {
        std::fs::write(
            p.path().join("gantry.yaml"),
            format!(
                "project: t\npolicy: {{ default: warning }}\nservices:\n  web:\n    listen: 127.0.0.1:18080\n    releases: {{ v1: {{ run: ./web }} }}\n    strategy: {{ {spelling}: {{ auto_promote: true }} }}\n"
            ),
        )
        .unwrap();
        p.gantry(&["check"]).ok();
    }
    std::fs::write(
        p.path().join("gantry.yaml"),
        "project: t\nservices:\n  web:\n    listen: 127.0.0.1:18080\n    releases: { v1: { run: ./web } }\n    strategy: { bluegreen: {} }\n",
    )
    .unwrap();
    p.gantry(&["check"]).fails_with(2).says("blue-green");
}
