//! The API token: the Bearer scheme in any case, `GANTRY_TOKEN` over the token file, short
//! tokens refused at start, refused calls logged (never with what was presented) and
//! counted.

use std::os::unix::fs::PermissionsExt;

use gantry_test_support::serve::gantry_exits;

use crate::{Env, Opts, http, project};

fn get_ps(env: &Env, authorization: Option<&str>) -> crate::Reply {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    http(env.api(), "GET", "/v1/ps", &headers, None)
}

#[test]
fn issue7_bearer_scheme_is_case_insensitive() {
    let env = Env::new(Opts::default());
    let token = env.token();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let reply = get_ps(&env, Some(&format!("{scheme} {token}")));
        assert_eq!(reply.status, 200, "{scheme}: {}", reply.text);
    }
    let reply = get_ps(&env, Some(&format!("Basic {token}")));
    assert_eq!(reply.status, 401, "{}", reply.text);
}

#[test]
fn issue7_refused_calls_are_logged_without_the_token_and_counted() {
    let env = Env::new(Opts::default());
    let token = env.token();
    // Differs from the real token in its last character only.
    let near = format!(
        "{}{}",
        &token[..token.len() - 1],
        if token.ends_with('0') { '1' } else { '0' }
    );
    let basic = format!("Basic {token}");
    let bare = token.clone();
    let wrong = format!("Bearer {near}");
    let calls = [
        (None, "missing Authorization header"),
        (Some(basic.as_str()), "Authorization scheme is not Bearer"),
        // A client that forgot the scheme sends the token as the scheme: never logged.
        (Some(bare.as_str()), "Authorization scheme is not Bearer"),
        (Some(wrong.as_str()), "wrong bearer token"),
    ];
    let mut peers = Vec::new();
    for (auth, why) in calls {
        let reply = get_ps(&env, auth);
        assert_eq!(reply.status, 401, "{}", reply.text);
        assert!(
            reply
                .header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{}",
            reply.text
        );
        let error = reply.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains(why), "{error}");
        peers.push((reply.from, why));
    }

    let ps = env.ps();
    let refused = &ps["api"]["refused"];
    assert_eq!(refused["total"], 4, "{ps}");
    assert_eq!(refused["missing_header"], 1, "{ps}");
    assert_eq!(refused["wrong_scheme"], 2, "{ps}");
    assert_eq!(refused["wrong_token"], 1, "{ps}");
    let human = env.p.gantry(&["ps"]).ok().stdout();
    assert!(
        human.contains("4 API call(s) refused"),
        "gantry ps says nothing of refused calls:\n{human}"
    );

    let log = env.serve.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("API call refused"))
        .collect();
    assert_eq!(lines.len(), 4, "{log}");
    for (line, (peer, why)) in lines.iter().zip(&peers) {
        for part in ["WARN", "method=GET", "/v1/ps", &format!("peer={peer}"), why] {
            assert!(line.contains(part), "no {part:?} in {line:?}");
        }
    }
    assert!(!log.contains(&token), "the token reached the log:\n{log}");
    assert!(
        !log.contains(&near),
        "a presented token reached the log:\n{log}"
    );
}

#[test]
fn issue7_gantry_token_is_used_over_the_token_file() {
    let env = Env::new(Opts::default());
    let token = env.token();
    let file = env.p.path().join(".gantry/admin.token");
    // A wrong GANTRY_TOKEN wins over the right file, and the error says which was used.
    let run = env
        .p
        .command(&["ps"])
        .env("GANTRY_TOKEN", "x".repeat(64))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(7), "refused: {stderr}");
    assert!(
        stderr.contains("refused the token from GANTRY_TOKEN")
            && stderr.contains("wrong bearer token"),
        "{stderr}"
    );
    // The right GANTRY_TOKEN needs no file.
    std::fs::remove_file(&file).unwrap();
    let run = env
        .p
        .command(&["ps", "--json"])
        .env("GANTRY_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Without either, the CLI says where a token comes from.
    env.p
        .gantry(&["ps"])
        .fails_with(2)
        .says("no admin token at")
        .says("GANTRY_TOKEN");
}

#[test]
fn issue7_a_short_server_token_is_refused_at_start() {
    let (p, _) = project(&Opts::default());
    let ledger = std::fs::read(p.ledger_path()).unwrap();
    let file = p.path().join(".gantry/admin.token");
    std::fs::write(&file, "0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    gantry_exits(&p, &["serve", "--listen", "127.0.0.1:0"], &[], 30)
        .fails_with(2)
        .says("the API token from")
        .says("admin.token is 16 bytes long; at least 32 are required")
        .says("remove");

    // From the environment: named as such, with how to make a good one.
    std::fs::remove_file(&file).unwrap();
    gantry_exits(
        &p,
        &["serve", "--listen", "127.0.0.1:0"],
        &[("GANTRY_TOKEN", "too-short")],
        30,
    )
    .fails_with(2)
    .says("the API token from GANTRY_TOKEN is 9 bytes long")
    .says("openssl rand -hex 32");
    assert_eq!(
        std::fs::read(p.ledger_path()).unwrap(),
        ledger,
        "a refused start records nothing"
    );
    assert!(!p.path().join(".gantry/serve.json").exists());
}

/// `gantry token create|list|revoke`: the value is printed once, the file keeps only its
/// hash, and both changes are in the ledger without the token.
#[test]
fn issue10_token_create_list_revoke() {
    let (p, _) = project(&Opts::default());
    let made = p
        .gantry(&[
            "--json",
            "token",
            "create",
            "--role",
            "operator",
            "--name",
            "ci",
            "--expires",
            "24h",
        ])
        .ok()
        .json();
    let value = made["token"].as_str().unwrap().to_string();
    assert!(value.starts_with("gantry_") && value.len() >= 32, "{made}");
    assert_eq!(
        (made["name"].as_str(), made["role"].as_str()),
        (Some("ci"), Some("operator"))
    );
    assert!(made["expires"].as_str().is_some(), "{made}");
    // Text mode prints the token alone on stdout, so `$(gantry token create …)` works.
    let text = p.gantry(&["token", "create", "--role", "viewer"]).ok();
    let viewer = text.stdout().trim().to_string();
    assert!(
        viewer.starts_with("gantry_") && !viewer.contains(' '),
        "{viewer}"
    );
    assert!(text.stderr().contains("viewer-1"), "{}", text.stderr());

    let file = p.path().join(".gantry/tokens.json");
    let stored = std::fs::read_to_string(&file).unwrap();
    for v in [&value, &viewer] {
        assert!(
            !stored.contains(&v["gantry_".len()..]),
            "a usable token is in the file"
        );
    }
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let list = p.gantry(&["--json", "token", "list"]).ok().json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci", "viewer-1"]);
    for field in ["role", "created", "expires", "last_used", "status"] {
        assert!(list[0].get(field).is_some(), "no {field} in {list}");
    }
    assert!(
        list[0].get("token").is_none() && list[0].get("sha256").is_none(),
        "{list}"
    );
    let human = p.gantry(&["token", "list"]).ok().stdout();
    assert!(
        human.contains("LAST USED") && human.contains("active"),
        "{human}"
    );

    p.gantry(&["token", "revoke", "ci"]).ok().says("revoked");
    let list = p.gantry(&["--json", "token", "list"]).ok().json();
    assert_eq!(list[0]["status"], "revoked", "{list}");
    p.gantry(&["token", "revoke", "ci"])
        .fails_with(2)
        .says("revoked already");
    p.gantry(&["token", "revoke", "nope"])
        .fails_with(2)
        .says("no token named 'nope'");
    p.gantry(&["token", "create", "--role", "root"])
        .fails_with(2)
        .says("unknown role 'root'")
        .says("operator");

    let ledger = p.ledger_lines().join("\n");
    assert!(ledger.contains("access.token.created") && ledger.contains("access.token.revoked"));
    assert!(!ledger.contains(&value[7..]) && !ledger.contains(&viewer[7..]));
    p.gantry(&["ledger", "verify"]).ok();
}
