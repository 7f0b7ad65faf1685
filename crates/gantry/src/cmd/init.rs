use std::fs;
use std::path::Path;

use anyhow::Context;
use gantry_ledger::Ledger;
use serde_json::json;

use super::agent::register_missing;
use crate::cli::InitArgs;
use crate::project::{Project, SYSTEM_ROLE, origin};
use crate::{exit, output};

const GITIGNORE: &str = "\
# Written by `gantry init`. Private keys and API tokens never leave this machine;
# the ledger (ledger.jsonl) is meant to be committed or archived as evidence.
keys/
*.token
*.pem
state.json
*.tmp
# The running control plane's own files.
serve.lock
serve.json
serve.pid
serve.log
";

pub fn run(dir: Option<&Path>, args: &InitArgs, json: bool) -> anyhow::Result<()> {
    // init works on the named or current directory, never on a parent that has a config.
    let root = match dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir()?,
    };
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let project = Project { root: root.clone() };
    let config_path = project.config_path();
    if config_path.exists() && !args.force {
        return Err(exit::usage(format!(
            "{} already exists; pass --force to overwrite it (the ledger and keys are kept)",
            config_path.display()
        )));
    }
    let name = match &args.project {
        Some(name) => name.clone(),
        None => project_name(&root),
    };
    fs::write(&config_path, gantry_config::example(&name))
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let config = project.config()?;

    let gantry_dir = project.gantry_dir();
    fs::create_dir_all(&gantry_dir)?;
    fs::write(gantry_dir.join(".gitignore"), GITIGNORE)?;

    let keys = project.keys();
    let ledger_path = project.ledger_path();
    let created_ledger = !ledger_path.exists();
    if created_ledger {
        if !keys.path_for(SYSTEM_ROLE).exists() {
            keys.generate(SYSTEM_ROLE).map_err(exit::usage)?;
        }
        let system = project.system_signer()?;
        Ledger::create(&ledger_path, &system, &origin(&config))
            .with_context(|| format!("cannot create {}", ledger_path.display()))?;
    }
    let ledger = project.open_ledger(&config)?;
    let registered = register_missing(&project, &config, &ledger)?;
    // The bearer token the CLI presents to `gantry serve` (mode 0600, kept if present).
    super::deploy::token::ensure(&gantry_dir)?;

    if json {
        return output::json(&json!({
            "config": config_path,
            "ledger": ledger_path,
            "created_ledger": created_ledger,
            "registered": registered,
        }));
    }
    println!("wrote {}", config_path.display());
    if created_ledger {
        println!(
            "created {} (system key .gantry/keys/{SYSTEM_ROLE}.pem)",
            ledger_path.display()
        );
    } else {
        println!("kept the existing ledger {}", ledger_path.display());
    }
    for (role, fingerprint) in &registered {
        println!("registered {role}: {fingerprint}");
    }
    println!("\nnext: `gantry agent list`, `gantry ledger verify`, `gantry check`");
    Ok(())
}

fn project_name(root: &Path) -> String {
    let base = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.trim_matches('-').is_empty() {
        "project".into()
    } else {
        name
    }
}
