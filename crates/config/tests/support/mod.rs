//! Helpers shared by the integration tests.
#![allow(dead_code)]

use gantry_config::{Config, ConfigError, parse};

/// A small valid config that tests extend or alter.
pub const BASE: &str = "\
project: shop
agents:
  planner: { id: PlanAgent }
  verifier: { id: ReviewAgent }
services:
  web:
    listen: 127.0.0.1:8080
    releases:
      v1:
        run: ./web --port {port}
pipelines:
  release:
    stages:
      - name: ci
        steps:
          - run: cargo test
";

/// Parses text that must be valid.
pub fn ok(yaml: &str) -> Config {
    parse("gantry.yaml", yaml).unwrap_or_else(|e| panic!("expected a valid config, got:\n{e}"))
}

/// Parses text that must fail.
pub fn err(yaml: &str) -> ConfigError {
    match parse("gantry.yaml", yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e,
    }
}

/// Asserts the error's line, column and code, that its message contains `text`, and
/// that its Display starts with `gantry.yaml:LINE:COL: ` and shows the offending line.
#[track_caller]
pub fn expect_err(yaml: &str, line: u64, column: u64, code: &str, text: &str) -> ConfigError {
    let e = err(yaml);
    let shown = e.to_string();
    assert_eq!(
        (e.line(), e.column(), e.code()),
        (Some(line), Some(column), code),
        "wrong place or kind:\n{shown}"
    );
    assert!(
        e.message().contains(text),
        "message lacks {text:?}:\n{shown}"
    );
    let prefix = format!("gantry.yaml:{line}:{column}: ");
    assert!(
        shown.starts_with(&prefix),
        "display lacks {prefix:?}:\n{shown}"
    );
    let source_line = yaml.lines().nth(line as usize - 1).unwrap_or("");
    assert!(
        shown.contains(&format!("{line} | {}", source_line.replace('\t', " "))),
        "display lacks the source line:\n{shown}"
    );
    assert!(
        shown.lines().last().unwrap().contains('^'),
        "no caret:\n{shown}"
    );
    e
}

/// 1-based (line, column) of `target` inside the first occurrence of `context` in `yaml`.
#[track_caller]
pub fn pos_in(yaml: &str, context: &str, target: &str) -> (u64, u64) {
    let start = yaml
        .find(context)
        .unwrap_or_else(|| panic!("{context:?} not in yaml"));
    let offset = start + context.find(target).expect("target not in context");
    let before = &yaml[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line as u64, column as u64)
}
