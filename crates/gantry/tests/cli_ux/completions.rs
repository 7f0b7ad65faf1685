//! `gantry completions SHELL`, checked by the shells themselves.

use crate::{have, project};

#[test]
fn bash_completes_subcommands_and_flags() {
    if !have("bash") {
        return;
    }
    let p = project();
    let script = p.gantry(&["completions", "bash"]).ok().stdout();
    let path = p.path().join("gantry.bash");
    std::fs::write(&path, script).unwrap();
    // Bash's own completion machinery: load the script, complete `gantry dep`, then
    // `gantry deploy web --st`.
    let complete = |words: &str, cword: usize| {
        let out = std::process::Command::new("bash")
            .args([
                "--norc",
                "-c",
                &format!(
                    "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _gantry gantry; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                    path.display()
                ),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let subs = complete("gantry dep", 1);
    assert!(subs.lines().any(|l| l == "deploy"), "{subs}");
    let flags = complete("gantry deploy web --st", 3);
    assert!(flags.lines().any(|l| l == "--strategy"), "{flags}");
}

#[test]
fn zsh_and_fish_scripts_parse() {
    let p = project();
    for (shell, check) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
        let script = p.gantry(&["completions", shell]).ok().stdout();
        assert!(script.contains("deploy"), "{shell}: {script}");
        if !have(shell) {
            continue;
        }
        let path = p.path().join(format!("gantry.{shell}"));
        std::fs::write(&path, script).unwrap();
        let out = std::process::Command::new(shell)
            .args(check)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
