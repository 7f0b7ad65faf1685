//! Releases from git (issue 11, item 9): every tag of a real repository made here is a
//! version, built once in its worktree under `.gantry/builds/<tag>`, its commit and
//! artefact hash in the ledger; deploy and rollback take any tag; a missing tag is refused
//! before anything changes, in `rollback --dry-run` too.

use std::path::Path;
use std::process::Command;

use gantry_test_support::TestProject;
use gantry_test_support::demo::{demo_app, free_port};
use gantry_test_support::serve::Serve;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{BIN, have, project};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `app/`, a git repository with tags v1.2.3 and v1.3.0 (its VERSION file differs), and a
/// service whose versions are those tags.
fn tagged_project() -> TestProject {
    let p = project();
    let app = p.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    git(&app, &["init", "-q"]);
    for v in ["1.2.3", "1.3.0"] {
        std::fs::write(app.join("VERSION"), format!("{v}\n")).unwrap();
        git(&app, &["add", "VERSION"]);
        git(&app, &["commit", "-qm", v]);
        git(&app, &["tag", &format!("v{v}")]);
    }
    git(&app, &["tag", "not-a-release"]);
    let demo = demo_app(Path::new(BIN));
    let d = demo.display();
    p.write_config(&format!(
        "project: test\nagents:\n  planner: {{ id: PlanAgent }}\n  operator: {{ id: OperationsBoardAgent }}\n  verifier: {{ id: ReviewAgent }}\n\
services:\n  web:\n    listen: 127.0.0.1:{port}\n\
\x20   releases_from:\n      git: {{ repo: app, tags: \"v*\", build: \"cp VERSION built.txt\", artifact: built.txt, run: \"{d} --port {{port}} --version v$(cat {{dir}}/built.txt)\" }}\n\
\x20   health:\n      readiness: {{ http: /health, period: 100ms, timeout: 500ms }}\n\
\x20   strategy: {{ canary: {{ steps: [ {{weight: 50, pause: 500ms}} ] }} }}\n\
policy: {{ default: warning }}\n",
        port = free_port()
    ));
    p.gantry(&["check"]).ok();
    p
}

fn entries(p: &TestProject) -> Vec<Value> {
    p.ledger_lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn built(p: &TestProject) -> Vec<Value> {
    entries(p)
        .into_iter()
        .filter(|e| e["kind"] == "release.built")
        .collect()
}

#[test]
fn any_tag_deploys_and_rolls_back_built_once_with_its_commit_in_the_ledger() {
    if !have("git") {
        return;
    }
    let p = tagged_project();
    let app = p.path().join("app");
    let _serve = Serve::start(&p);
    p.gantry(&["deploy", "web", "--version", "v1.2.3", "--wait"])
        .ok();
    p.gantry(&["deploy", "web", "--version", "v1.3.0", "--wait"])
        .ok();
    let b = built(&p);
    assert_eq!(b.len(), 2, "{b:?}");
    let newest = &b[1];
    assert_eq!(newest["body"]["version"], "v1.3.0");
    assert_eq!(
        newest["body"]["commit"],
        git(&app, &["rev-parse", "v1.3.0^{commit}"])
    );
    assert_eq!(
        newest["body"]["sha256"],
        hex(&Sha256::digest(b"1.3.0\n")),
        "the artefact's hash"
    );
    assert_eq!(newest["actor"]["role"], "gantry");
    assert!(p.path().join(".gantry/builds/v1.3.0/built.txt").is_file());

    // A tag that does not exist: refused before anything changes, dry run or not.
    let before = p.ledger_lines().len();
    p.gantry(&["rollback", "web", "--to", "v9.9.9", "--dry-run"])
        .fails_with(2)
        .says("no git tag 'v9.9.9' matching \"v*\"");
    p.gantry(&["deploy", "web", "--version", "v9.9.9"])
        .fails_with(2)
        .says("tags: v1.2.3, v1.3.0");
    p.gantry(&["deploy", "web", "--version", "not-a-release"])
        .fails_with(2);
    assert_eq!(p.ledger_lines().len(), before, "nothing was recorded");

    p.gantry(&["rollback", "web", "--to", "v1.2.3", "--dry-run"])
        .ok()
        .says("v1.3.0 → v1.2.3");
    p.gantry(&["rollback", "web", "--to", "v1.2.3"]).ok();
    let ps = p.gantry(&["--json", "ps"]).ok().json();
    assert_eq!(ps["services"][0]["stable"], "v1.2.3", "{ps}");
    assert_eq!(built(&p).len(), 2, "v1.2.3 was built once, reused");

    let h = p.gantry(&["--json", "history", "web"]).ok().json();
    assert_eq!(
        h["revisions"][1]["commit"],
        git(&app, &["rev-parse", "v1.3.0^{commit}"]),
        "{h:#}"
    );
    let text = p.gantry(&["history", "web"]).ok().stdout();
    let short = &git(&app, &["rev-parse", "v1.2.3^{commit}"])[..12];
    assert!(text.contains(&format!("v1.2.3 @ {short}")), "{text}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
