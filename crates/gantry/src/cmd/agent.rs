mod system_rotation;

use gantry_config::Config;
use gantry_ledger::{Ledger, fingerprint, generate_key};
use serde::Serialize;
use serde_json::json;

use crate::cli::AgentCommand;
use crate::project::{Project, SYSTEM_ROLE};
use crate::{exit, output};

pub fn run(project: &Project, cmd: AgentCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Keygen { role } => keygen(project, &role, json),
        AgentCommand::Rotate { role } => rotate(project, &role, json),
        AgentCommand::List => list(project, json),
    }
}

fn configured_id<'a>(config: &'a Config, role: &str) -> anyhow::Result<&'a str> {
    match config.agents.get(role) {
        Some(agent) => Ok(agent.id.as_str()),
        None => Err(exit::usage(format!(
            "unknown role '{role}': gantry.yaml's `agents:` has {}",
            config.agents.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Registers a key for every configured role that has none yet (used by `init`).
pub fn register_missing(
    project: &Project,
    config: &Config,
    ledger: &Ledger,
) -> anyhow::Result<Vec<(String, String)>> {
    let state = gantry_state::State::replay(&ledger.entries()?);
    let mut done = Vec::new();
    for role in config.agents.keys() {
        if !state.agents.contains_key(role) {
            done.push((role.clone(), register(project, config, ledger, role)?));
        }
    }
    Ok(done)
}

/// Uses the role's existing key file if one is there (e.g. left by an interrupted keygen),
/// else creates one, then records its public key.
fn register(
    project: &Project,
    config: &Config,
    ledger: &Ledger,
    role: &str,
) -> anyhow::Result<String> {
    let id = configured_id(config, role)?;
    let keys = project.keys();
    let key = if keys.path_for(role).exists() {
        keys.load(role).map_err(exit::usage)?.0
    } else {
        keys.generate(role).map_err(exit::usage)?
    };
    let system = project.system_signer()?;
    let public = key.verifying_key();
    ledger.register_agent(&system, role, id, &public)?;
    Ok(fingerprint(&public))
}

fn keygen(project: &Project, role: &str, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    configured_id(&config, role)?;
    let ledger = project.open_ledger(&config)?;
    let state = gantry_state::State::replay(&ledger.entries()?);
    if let Some(key) = state.agents.get(role).and_then(|a| a.active_key()) {
        return Err(exit::usage(format!(
            "role '{role}' already has a registered key ({}); use `gantry agent rotate {role}` to replace it",
            key.fingerprint
        )));
    }
    let fp = register(project, &config, &ledger, role)?;
    let path = project.keys().path_for(role);
    if json {
        return output::json(&json!({"role": role, "fingerprint": fp, "key_file": path}));
    }
    println!("registered {role}: {fp}");
    println!(
        "private key: {} (mode 0600; or set ${})",
        path.display(),
        gantry_agents::env_var_for(role)
    );
    Ok(())
}

fn rotate(project: &Project, role: &str, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    if role == SYSTEM_ROLE
        && let Some(fp) = system_rotation::finish(project)?
    {
        // The rotation asked for was made; it only had not taken effect here.
        if json {
            return output::json(&json!({"role": role, "fingerprint": fp, "completed": true}));
        }
        println!("completed an interrupted rotation of the system key: it is now {fp}");
        return Ok(());
    }
    let ledger = project.open_ledger(&config)?;
    let state = gantry_state::State::replay(&ledger.entries()?);
    let (id, old_fp) = state
        .agents
        .get(role)
        .and_then(|a| {
            a.active_key()
                .map(|k| (a.id.clone(), k.fingerprint.clone()))
        })
        .ok_or_else(|| {
            exit::usage(format!(
                "role '{role}' has no registered key; use `gantry agent keygen {role}`"
            ))
        })?;
    let key = generate_key();
    let system = project.system_signer()?;
    let entry = if role == SYSTEM_ROLE {
        system_rotation::rotate(project, &ledger, &system, &old_fp, &key)?
    } else {
        // The rotation is durable before the new key replaces the old file: a crash in
        // between leaves a registered key without its file, fixed by rotating again.
        let entry = ledger.rotate_agent(&system, role, &id, &old_fp, &key.verifying_key())?;
        project.keys().save(role, &key, true).map_err(exit::usage)?;
        entry
    };
    let fp = fingerprint(&key.verifying_key());
    if json {
        return output::json(
            &json!({"role": role, "old_fingerprint": old_fp, "fingerprint": fp, "seq": entry.seq}),
        );
    }
    println!("rotated {role}: {old_fp} -> {fp} (at seq {})", entry.seq);
    println!(
        "the old key remains valid only for entries up to seq {}",
        entry.seq
    );
    if role == SYSTEM_ROLE {
        println!(
            "seals and exports now sign with the new key; restart a running `gantry serve`, \
             which still holds the old one"
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct Row {
    role: String,
    id: String,
    fingerprint: Option<String>,
    registered_seq: Option<u64>,
    retired_keys: usize,
    key_source: Option<String>,
    in_config: bool,
}

fn list(project: &Project, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let state = project.state()?;
    let keys = project.keys();
    let mut roles: Vec<&String> = state.agents.keys().chain(config.agents.keys()).collect();
    roles.sort();
    roles.dedup();
    let rows: Vec<Row> = roles
        .into_iter()
        .map(|role| {
            let agent = state.agents.get(role);
            let active = agent.and_then(|a| a.active_key());
            Row {
                role: role.clone(),
                id: config
                    .agents
                    .get(role)
                    .map(|a| a.id.clone())
                    .or_else(|| agent.map(|a| a.id.clone()))
                    .unwrap_or_default(),
                fingerprint: active.map(|k| k.fingerprint.clone()),
                registered_seq: active.map(|k| k.registered_seq),
                retired_keys: agent.map_or(0, |a| a.keys.len().saturating_sub(1)),
                key_source: keys.source_of(role).map(|s| s.to_string()),
                in_config: config.agents.contains_key(role) || role == SYSTEM_ROLE,
            }
        })
        .collect();
    if json {
        return output::json(&rows);
    }
    let mut table = output::table(&[
        "role",
        "id",
        "fingerprint",
        "since seq",
        "rotated",
        "private key",
    ]);
    for row in &rows {
        table.add_row(vec![
            row.role.clone(),
            row.id.clone(),
            row.fingerprint
                .clone()
                .unwrap_or_else(|| "(none: run `gantry agent keygen`)".into()),
            row.registered_seq
                .map(|s| s.to_string())
                .unwrap_or_default(),
            row.retired_keys.to_string(),
            row.key_source.clone().unwrap_or_else(|| "not here".into()),
        ]);
    }
    println!("{table}");
    Ok(())
}
