//! Printing helpers: `--json` output is one JSON document on stdout and nothing else.

use serde::Serialize;

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `2026-11-25T08:13:26.123456Z` → `2026-11-25 08:13:26`, for tables.
pub fn short_ts(ts: &str) -> String {
    let trimmed = ts.split('.').next().unwrap_or(ts).trim_end_matches('Z');
    trimmed.replacen('T', " ", 1)
}

pub fn table(header: &[&str]) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::NOTHING)
        .set_header(header.iter().map(|h| h.to_uppercase()));
    table
}
