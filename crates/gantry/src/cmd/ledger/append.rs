use std::io::BufRead;

use anyhow::Context;
use gantry_ledger::{Entry, Ledger, NewEntry, Signer};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cli::AppendArgs;
use crate::exit;
use crate::project::Project;

/// Entries per group commit of `--stdin` unless `--batch` says otherwise.
const DEFAULT_BATCH: usize = 1000;
/// What to do with a number the ledger cannot hold: a string keeps every digit.
const AS_STRING: &str = "write it as a string";
/// Input bytes after which a default batch is committed early (large bodies).
const MAX_BATCH_BYTES: usize = 4 << 20;

/// A line of `--stdin` input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    kind: String,
    #[serde(default)]
    body: Value,
}

pub fn run(project: &Project, args: &AppendArgs, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let ledger = project.open_ledger(&config)?;
    // Who may sign needs only the registry entries, not the whole ledger in memory.
    let state = gantry_state::State::replay(&gantry_ledger::read_registry(ledger.path())?.entries);
    let (signer, _) = project.signer_for(&state, &args.role)?;
    if !args.stdin {
        let kind = args.kind.as_deref().unwrap_or_default();
        check_kind(kind, "--kind")?;
        let body: Value = serde_json::from_str(&args.body)
            .map_err(|e| exit::usage(format!("--body is not valid JSON: {e}")))?;
        if let Some(problem) = gantry_ledger::body_problem(&body) {
            return Err(exit::usage(format!("--body: {problem}; {AS_STRING}")));
        }
        let entry = ledger.append(&signer, kind, body)?;
        return acknowledge(&[entry], json);
    }
    // Bounded batches, each durable and acknowledged before the next is read, keep memory
    // flat however much is piped in.
    let batch = args.batch.unwrap_or(DEFAULT_BATCH).max(1);
    let mut pending = Vec::new();
    let mut pending_bytes = 0usize;
    let mut committed = 0usize;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).map_err(|e| {
            exit::usage(format!(
                "stdin line {}: expected {{\"kind\": ..., \"body\": ...}}: {e}{}",
                n + 1,
                committed_note(committed)
            ))
        })?;
        check_kind(&parsed.kind, &format!("stdin line {}", n + 1))?;
        if let Some(problem) = gantry_ledger::body_problem(&parsed.body) {
            return Err(exit::usage(format!(
                "stdin line {}: {problem}; {AS_STRING}{}",
                n + 1,
                committed_note(committed)
            )));
        }
        pending_bytes += line.len();
        pending.push(NewEntry {
            kind: parsed.kind,
            body: parsed.body,
        });
        if pending.len() >= batch || (args.batch.is_none() && pending_bytes >= MAX_BATCH_BYTES) {
            committed += commit(&ledger, &signer, &mut pending, json)?;
            pending_bytes = 0;
        }
    }
    commit(&ledger, &signer, &mut pending, json)?;
    Ok(())
}

fn committed_note(committed: usize) -> String {
    if committed > 0 {
        format!(" ({committed} entries before it were committed)")
    } else {
        String::new()
    }
}

fn commit(
    ledger: &Ledger,
    signer: &Signer,
    pending: &mut Vec<NewEntry>,
    json: bool,
) -> anyhow::Result<usize> {
    if pending.is_empty() {
        return Ok(0);
    }
    let entries = ledger.append_batch(signer, std::mem::take(pending))?;
    acknowledge(&entries, json)?;
    Ok(entries.len())
}

/// Printed only after the entries are durable, so a caller may rely on what it reads.
fn acknowledge(entries: &[Entry], json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for entry in entries {
        if json {
            writeln!(
                out,
                "{}",
                json!({"seq": entry.seq, "kind": entry.kind, "hash": entry.hash})
            )?;
        } else {
            writeln!(
                out,
                "appended seq {} {} {}",
                entry.seq, entry.kind, entry.hash
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Kinds are dotted names (`deploy.note`). gantry's own namespaces (`checkpoint.*`,
/// `control.*`, …: the rule table in `gantry_state::authority`) are written only by the
/// commands that own them, because gantry acts on those entries.
fn check_kind(kind: &str, place: &str) -> anyhow::Result<()> {
    let well_formed = !kind.is_empty()
        && kind.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !well_formed {
        return Err(exit::usage(format!(
            "{place}: kind '{kind}' must be a dotted name of letters, digits, '_' and '-' (e.g. deploy.note)"
        )));
    }
    if let Some(rule) = gantry_state::authority::rule_for(kind) {
        return Err(exit::usage(format!(
            "{place}: kind '{kind}' is reserved: gantry's {} entries are written by {} only; \
             `ledger append` writes kinds outside gantry's namespaces (e.g. plan.drafted, x.note)",
            rule.kinds, rule.writer
        )));
    }
    Ok(())
}
