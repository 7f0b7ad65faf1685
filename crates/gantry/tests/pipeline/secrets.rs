//! Issue 7: a secret set in a step's own `env:` is masked like every other, in every form
//! output carries it in; it reaches no file (nor file name) under the project, and no
//! output — plain lines, `--json` events, the live view.

use std::path::Path;

use crate::{last_run, project, verify};

const SECRET: &str = "s3cr3t/v@lue+42";
/// How the step below writes it besides raw: URL-encoded, JSON-escaped (`\/`), and inside
/// an HTTP Basic credential in base64.
const URL_FORM: &str = "s3cr3t%2Fv%40lue%2B42";
const JSON_FORM: &str = r"s3cr3t\/v@lue+42";
/// `printf 'user:%s' "$SECRET" | base64`
const BASIC_FORM: &str = "dXNlcjpzM2NyM3QvdkBsdWUrNDI=";

const PIPELINE: &str = r#"
  p:
    stages:
      - name: leak
        steps:
          - name: echo
            env: { API_TOKEN: 's3cr3t/v@lue+42' }
            run: |
              echo "raw $API_TOKEN"
              echo "url $(printf %s "$API_TOKEN" | sed 's,/,%2F,g; s,@,%40,g; s,+,%2B,g')"
              echo "json {\"token\":\"$(printf %s "$API_TOKEN" | sed 's,/,\\/,g')\"}"
              echo "b64 $(printf 'user:%s' "$API_TOKEN" | base64 -w0)"
          - { run: 'echo s3cr3t/v@lue+42 in its name; exit 3' }
"#;

/// Every form of the secret this file's step writes.
fn forms() -> [&'static str; 4] {
    [SECRET, URL_FORM, JSON_FORM, BASIC_FORM]
}

/// Paths under `root` (relative) whose name or content holds any of `needles`, but for
/// gantry.yaml itself, where the user wrote the secret.
fn holding(root: &Path, needles: &[&str]) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, needles: &[&str], found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == "gantry.yaml" {
                continue;
            }
            if needles.iter().any(|n| rel.contains(n)) {
                found.push(format!("{rel} (its name)"));
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &path, needles, found);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                for needle in needles.iter().filter(|n| text.contains(**n)) {
                    found.push(format!("{rel} holds {needle}"));
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(root, root, needles, &mut found);
    found
}

#[test]
fn issue7_step_env_secret_appears_nowhere_under_the_project() {
    let p = project(PIPELINE);
    let text = p.gantry(&["run", "p"]).fails_with(1);
    let json = p.gantry(&["--json", "run", "p"]).fails_with(1);
    let run = last_run(&p);

    // The step did print each form, masked: the check below is not vacuous.
    let log = p.gantry(&["logs", &run, "echo"]).ok().stdout();
    for line in [
        "stdout raw ***",
        "stdout url ***",
        "stdout json {\"token\":\"***\"}",
    ] {
        assert!(log.contains(line), "{line:?} missing from:\n{log}");
    }
    let b64 = log.lines().find(|l| l.contains("stdout b64 ")).unwrap();
    assert!(b64.contains("***"), "{b64}");
    let named = p.entries_of("step.state.failed");
    assert_eq!(
        named[0]["body"]["name"], "run: echo *** in its name; exit 3",
        "{named:?}"
    );

    p.gantry(&["replay"]).ok();
    p.gantry(&["report", "--rebuild"]).ok();
    assert!(p.path().join(".gantry/state.json").is_file());
    let found = holding(p.path(), &forms());
    assert!(found.is_empty(), "the secret reached: {found:#?}");
    for out in [text.stdout(), text.stderr(), json.stdout(), json.stderr()] {
        for form in forms() {
            assert!(!out.contains(form), "{form} printed:\n{out}");
        }
    }
    assert!(json.stdout().contains("run: echo *** in its name; exit 3"));
    verify(&p);
}

#[test]
fn issue7_secret_in_a_step_name_reaches_no_file_name() {
    let p = project(PIPELINE);
    p.gantry(&["run", "p"]).fails_with(1);
    let run = last_run(&p);
    let logs: Vec<String> =
        std::fs::read_dir(p.path().join(".gantry/runs").join(&run).join("leak"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    // Masked first, then made a file name: nothing of the secret survives the slug
    // (`/`, `@` and `+` would have become `-`, hiding it from a mask applied after).
    for name in &logs {
        for piece in ["s3cr3t", "v-lue", "lue-42"] {
            assert!(!name.contains(piece), "{name}");
        }
    }
    assert!(
        logs.iter()
            .any(|n| n.starts_with("02-run--echo-") && n.ends_with("in-its-name--exit-3.log")),
        "{logs:?}"
    );
    // The recorded log path is the file that exists.
    let failed = &p.entries_of("step.state.failed")[0];
    let path = failed["body"]["log"].as_str().unwrap();
    assert!(p.path().join(path).is_file(), "{path}");
}

#[test]
fn issue7_live_view_masks_step_env_secrets() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set, so util-linux `script` must be installed"
        );
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let p = project(
        r#"
  p:
    stages:
      - name: s
        steps:
          - { name: talk, env: { DB_PASSWORD: 'pw-live-9931' }, run: 'echo "live-marker $DB_PASSWORD"; sleep 1.5' }
          - { run: 'echo pw-live-9931; exit 2' }
"#,
    );
    let bin = env!("CARGO_BIN_EXE_gantry");
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &format!("'{bin}' run p"), "/dev/null"])
        .current_dir(p.path())
        .env("COLUMNS", "120")
        .env("LINES", "40")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains('\x1b'), "the live view ran: {text:?}");
    assert!(text.contains("live-marker ***"), "{text:?}");
    assert!(text.contains("run: echo ***"), "{text:?}");
    assert!(!text.contains("pw-live-9931"), "{text:?}");
}
