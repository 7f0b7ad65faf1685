//! Issue 7: a declared secret too short to mask is refused, located at its `secrets:` item;
//! its value comes from gantry.yaml's `env:` or else from the environment passed in.

mod support;

use std::collections::BTreeMap;

use gantry_config::{ConfigError, check_with_env};
use support::{BASE, ok, pos_in};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// BASE whose pipeline declares `PIN` and `DEPLOY_TOKEN` secret, plus `extra` pipeline keys.
fn declaring(extra: &str) -> String {
    BASE.replace(
        "    stages:\n",
        &format!("    secrets: [DEPLOY_TOKEN, PIN]\n{extra}    stages:\n"),
    )
}

fn errors(yaml: &str, env: &BTreeMap<String, String>) -> Vec<ConfigError> {
    match check_with_env("gantry.yaml", yaml, env) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(errors) => errors,
    }
}

#[test]
fn issue7_short_secret_from_the_environment_is_refused() {
    let yaml = declaring("");
    let found = errors(
        &yaml,
        &env(&[("PIN", "0"), ("DEPLOY_TOKEN", "long-enough")]),
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    let at = pos_in(&yaml, "PIN]", "PIN");
    assert_eq!(
        (found[0].line(), found[0].column()),
        (Some(at.0), Some(at.1))
    );
    assert_eq!(found[0].code(), "gantry::config::short_secret");
    assert_eq!(
        found[0].to_string(),
        "gantry.yaml:13:29: secret 'PIN' of pipeline 'release' is only 1 character long (from \
         the environment); a declared secret needs at least 4: masking a value this short would \
         rewrite unrelated text (with a secret `0`, every `0` in logs and the ledger becomes \
         `***`) and reveal the secret by where the `***` appear; use a longer value or remove it \
         from `secrets:`\n   |\n13 |     secrets: [DEPLOY_TOKEN, PIN]\n   |                             ^^^"
    );
}

#[test]
fn issue7_the_message_never_shows_the_value() {
    let yaml = declaring("");
    let found = errors(&yaml, &env(&[("DEPLOY_TOKEN", "q7z")]));
    let shown = found[0].to_string();
    assert!(
        shown.contains("secret 'DEPLOY_TOKEN' of pipeline 'release' is only 3 characters long"),
        "{shown}"
    );
    assert!(!shown.contains("q7z"), "{shown}");
}

#[test]
fn issue7_short_secret_set_in_gantry_yaml_is_refused_without_any_environment() {
    // The pipeline's own `env:` wins over the environment, as in a run.
    let yaml = declaring("    env: { PIN: '12' }\n");
    let found = errors(&yaml, &env(&[("PIN", "long-enough")]));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .message()
            .contains("is only 2 characters long (set in the pipeline's `env:`)"),
        "{}",
        found[0]
    );
    // `check`/`parse` without an environment still see it.
    let e = gantry_config::parse("gantry.yaml", &yaml).unwrap_err();
    assert_eq!(e.code(), "gantry::config::short_secret");
    // A long value in gantry.yaml hides a short one in the environment.
    let yaml = declaring("    env: { PIN: '1234' }\n");
    check_with_env("gantry.yaml", &yaml, &env(&[("PIN", "1")])).unwrap();
}

#[test]
fn issue7_short_secret_set_in_a_step_env_is_refused() {
    let yaml = declaring("").replace(
        "          - run: cargo test\n",
        "          - { name: test, run: cargo test, env: { PIN: 'abc' } }\n",
    );
    let found = errors(&yaml, &env(&[]));
    assert_eq!(found.len(), 1, "{found:#?}");
    let at = pos_in(&yaml, "PIN]", "PIN");
    assert_eq!(
        (found[0].line(), found[0].column()),
        (Some(at.0), Some(at.1))
    );
    assert!(
        found[0]
            .message()
            .contains("is only 3 characters long (set in `env:` of step 'test' in stage 'ci')"),
        "{}",
        found[0]
    );
}

#[test]
fn unset_empty_and_long_secrets_are_fine() {
    let yaml = declaring("");
    // Unset: nothing to mask, and CI often declares secrets only some jobs set.
    check_with_env("gantry.yaml", &yaml, &env(&[])).unwrap();
    check_with_env("gantry.yaml", &yaml, &env(&[("PIN", "")])).unwrap();
    check_with_env(
        "gantry.yaml",
        &yaml,
        &env(&[("PIN", "1234"), ("DEPLOY_TOKEN", "ünïc")]),
    )
    .unwrap();
    // Short values of variables that are not declared are not gantry's business here.
    check_with_env(
        "gantry.yaml",
        &yaml,
        &env(&[("OTHER", "0"), ("API_KEY", "x")]),
    )
    .unwrap();
    ok(&yaml);
}
