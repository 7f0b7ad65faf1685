//! `analysis.prometheus`: accepted with its defaults, located errors for what could not run.

mod support;

use support::{BASE, expect_err, ok, pos_in};

fn with_rule(rule: &str) -> String {
    BASE.replace(
        "    releases:\n",
        &format!("    analysis:\n      prometheus: {rule}\n    releases:\n"),
    )
}

#[test]
fn a_rule_is_accepted_with_the_default_url() {
    let config = ok(&with_rule(
        r#"{ query: 'sum(x{service="{{service}}",version="{{ version }}"})', threshold: "< 0.05" }"#,
    ));
    let rule = config.services["web"]
        .analysis
        .as_ref()
        .unwrap()
        .prometheus
        .clone()
        .unwrap();
    assert_eq!(rule.url.value, "http://127.0.0.1:9090");
    assert_eq!(rule.threshold.to_string(), "< 0.05");
}

#[test]
fn unknown_placeholders_bad_urls_and_empty_queries_are_located() {
    let yaml = with_rule(r#"{ query: "x{t=\"{{target}}\"}", threshold: "< 1" }"#);
    let at = pos_in(&yaml, "query: \"x", "\"x");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::prometheus",
        "placeholder '{{target}}'; only {{service}} and {{version}} are replaced",
    );
    let yaml = with_rule(r#"{ url: "https://prom:9090", query: up, threshold: "> 0" }"#);
    let at = pos_in(&yaml, "url: \"https", "\"https");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::prometheus",
        "https is not supported yet",
    );
    let yaml = with_rule(r#"{ query: " ", threshold: "> 0" }"#);
    let at = pos_in(&yaml, "query: \" \"", "\" \"");
    expect_err(
        &yaml,
        at.0,
        at.1,
        "gantry::config::prometheus",
        "`analysis.prometheus.query` is empty",
    );
    let yaml = with_rule(r#"{ query: up, threshold: "0.05" }"#);
    let e = support::err(&yaml);
    assert!(e.to_string().contains("expected an operator"), "{e}");
}

#[test]
fn status_github_is_typed_and_refuses_a_bad_api_base() {
    use std::collections::BTreeMap;
    let yaml = format!("{BASE}status:\n  github: {{ repo: acme/shop }}\n");
    let mut env = BTreeMap::new();
    env.insert(
        "GITHUB_API_URL".to_string(),
        "http://127.0.0.1:1/".to_string(),
    );
    let config = gantry_config::check_with_env("gantry.yaml", &yaml, &env)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let gh = config.status.github.unwrap();
    assert_eq!(gh.token_env.value, "GITHUB_TOKEN");
    assert_eq!(gh.label, "gantry-status");
    assert_eq!(gantry_config::github_api_base(&env), "http://127.0.0.1:1");
    // The public API is https, which the client speaks (tests/monitor/tls.rs in gantry).
    gantry_config::check_with_env("gantry.yaml", &yaml, &BTreeMap::new())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let mut ftp = env.clone();
    ftp.insert("GITHUB_API_URL".into(), "ftp://ghe.example".into());
    let e = format!(
        "{:?}",
        gantry_config::check_with_env("gantry.yaml", &yaml, &ftp).unwrap_err()
    );
    assert!(e.contains("is not an http:// or https:// URL"), "{e}");
    let yaml = format!("{BASE}status:\n  github: {{ repo: shop, token_env: \"ghp_x y\" }}\n");
    let e = format!(
        "{:?}",
        gantry_config::check_with_env("gantry.yaml", &yaml, &env).unwrap_err()
    );
    assert!(e.contains("is not owner/name"), "{e}");
    assert!(e.contains("is not an environment variable name"), "{e}");
    let yaml = format!("{BASE}status:\n  github: {{ repo: a/b, tokn: X }}\n");
    let e = support::err(&yaml).to_string();
    assert!(e.contains("unknown field"), "{e}");
}
