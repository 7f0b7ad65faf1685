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
        let error = reply.json()["error"]
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
