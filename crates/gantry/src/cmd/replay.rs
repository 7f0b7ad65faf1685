use anyhow::Context;
use serde_json::json;

use crate::output;
use crate::project::Project;

/// Rebuilds `.gantry/state.json` from the ledger alone; same ledger, same bytes.
pub fn run(project: &Project, json: bool) -> anyhow::Result<()> {
    let state = project.state()?;
    let path = project.state_path();
    gantry_ledger::durable::write_atomic(&path, state.to_json().as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if json {
        return output::json(&json!({
            "state": path,
            "entries": state.ledger.entries,
            "head": state.ledger.head,
        }));
    }
    println!(
        "replayed {} entries into {} (head {})",
        state.ledger.entries,
        path.display(),
        state.ledger.head
    );
    Ok(())
}
