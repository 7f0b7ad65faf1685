//! What a run prints: `--json` is nothing but JSON event lines, a pipe gets plain lines
//! without escape sequences, and a terminal gets the live view (driven through a real
//! pseudo-terminal by util-linux `script`).

use crate::project;

const SECRET: &str = "pty-s3cret-77";

/// A step that says something and keeps running long enough for the live view to show it.
const TALKY: &str = "
  p:
    secrets: [LIVE_CRED]
    stages:
      - name: s
        steps:
          - { name: talk, run: 'echo live-marker $LIVE_CRED; sleep 1.5' }
          - { name: quick, run: 'echo second-step-output' }
";

/// The text without ANSI escape sequences (CSI: ESC '[' parameters, final letter).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn has_escape(text: &str) -> bool {
    text.contains('\x1b') || text.contains('\r')
}

#[test]
fn json_is_only_json_lines() {
    let p = project(TALKY);
    let out = p
        .command(&["--json", "run", "p"])
        .env("LIVE_CRED", SECRET)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!has_escape(&stdout), "{stdout:?}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(events.iter().all(|e| e["event"].is_string()));
    assert!(
        events.iter().all(|e| e["event"] != "step_output"),
        "step output stays in the logs"
    );
    assert!(!stdout.contains("live-marker"), "{stdout}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "step_finished")
            .count(),
        2
    );
}

#[test]
fn a_pipe_gets_plain_lines() {
    let p = project(TALKY);
    let out = p.gantry(&["run", "p"]).ok();
    let stdout = out.stdout();
    assert!(!has_escape(&stdout), "{stdout:?}");
    assert!(stdout.contains("s │ ✓ talk succeeded in"), "{stdout}");
    assert!(stdout.contains("s │ ✓ quick succeeded in"), "{stdout}");
    assert!(!stdout.contains("live-marker"), "{stdout}");
}

#[test]
fn a_terminal_gets_the_live_view() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let p = project(TALKY);
    let bin = env!("CARGO_BIN_EXE_gantry");
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &format!("'{bin}' run p"), "/dev/null"])
        .current_dir(p.path())
        .env("LIVE_CRED", SECRET)
        .env("COLUMNS", "120")
        .env("LINES", "40")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains('\x1b'),
        "a terminal gets a redrawn view: {text:?}"
    );
    // The running step's line: its name, the time it has been running, its last output.
    let plain = strip_ansi(&text);
    let elapsed_shown = plain.match_indices("s │ talk ").any(|(i, m)| {
        plain[i + m.len()..]
            .split_whitespace()
            .next()
            .and_then(|w| w.strip_suffix('s'))
            .is_some_and(|n| n.parse::<f64>().is_ok())
    });
    assert!(elapsed_shown, "{plain:?}");
    assert!(text.contains("live-marker ***"), "{text:?}");
    assert!(!text.contains(SECRET), "{text:?}");
    // Finished steps leave their final line.
    assert!(text.contains("s │ ✓ talk succeeded in"), "{text:?}");
    assert!(text.contains("s │ ✓ quick succeeded in"), "{text:?}");
}
