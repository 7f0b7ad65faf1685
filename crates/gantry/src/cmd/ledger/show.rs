use gantry_ledger::Entry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::cli::ShowArgs;
use crate::project::Project;
use crate::{exit, output};

pub fn run(project: &Project, args: &ShowArgs, json: bool) -> anyhow::Result<()> {
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let entries = project.entries()?;
    let mut matching: Vec<&Entry> = entries
        .iter()
        .filter(|e| args.kind.as_deref().is_none_or(|k| e.kind.starts_with(k)))
        .filter(|e| args.role.as_deref().is_none_or(|r| e.actor.role == r))
        .filter(|e| since.is_none_or(|s| entry_time(e).is_none_or(|t| t >= s)))
        .collect();
    if let Some(limit) = args.limit {
        let skip = matching.len().saturating_sub(limit);
        matching.drain(..skip);
    }
    if json {
        return output::json(&matching);
    }
    let mut table = output::table(&["seq", "time", "kind", "actor", "body"]);
    for entry in &matching {
        let mut body = entry.body.to_string();
        if body.len() > 80 {
            let cut = (0..=77)
                .rev()
                .find(|&i| body.is_char_boundary(i))
                .unwrap_or(0);
            body.truncate(cut);
            body.push_str("...");
        }
        table.add_row(vec![
            entry.seq.to_string(),
            output::short_ts(&entry.ts),
            entry.kind.clone(),
            format!("{}:{}", entry.actor.role, entry.actor.id),
            body,
        ]);
    }
    println!("{table}");
    Ok(())
}

fn entry_time(entry: &Entry) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(&entry.ts, &Rfc3339).ok()
}

/// RFC 3339, a bare date, or an age such as `30m` meaning "that long ago".
fn parse_since(text: &str) -> anyhow::Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(t) = OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339) {
        return Ok(t);
    }
    if let Ok(age) = text.parse::<gantry_config::Duration>() {
        return Ok(OffsetDateTime::now_utc() - age.as_std());
    }
    Err(exit::usage(format!(
        "--since '{text}': expected an RFC 3339 time (2026-11-25T08:00:00Z), a date (2026-11-25) or an age (30m, 2h)"
    )))
}
