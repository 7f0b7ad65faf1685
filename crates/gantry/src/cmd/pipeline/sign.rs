//! `gantry sign RUN STAGE --as ROLE [--summary TEXT] [--veto]`: a decision on a waiting
//! checkpoint. A key that is not the registered key of ROLE is refused, and the refusal is
//! recorded (signed by the system key, since the offered key cannot sign anything).

use gantry_ledger::Signer;
use gantry_pipeline::{DecideError, Masker};
use serde_json::json;

use super::{SignArgs, operator};
use crate::project::Project;
use crate::{exit, output};

pub fn run(project: &Project, args: &SignArgs, json: bool) -> anyhow::Result<()> {
    let config = project.config()?;
    let state = project.state()?;
    let run = state.runs.find(&args.run).ok_or_else(|| {
        exit::usage(format!(
            "no run '{}' in the ledger (see `gantry runs`)",
            args.run
        ))
    })?;
    let stage = &args.stage;
    let summary = args.summary.clone().unwrap_or_default();
    gantry_pipeline::decidable(run, stage, &args.role, args.veto, &summary).map_err(
        |e| match e {
            DecideError::WrongRole { .. } | DecideError::NeedsSummary(_) => exit::usage(e),
            _ => exit::failed(e),
        },
    )?;
    let masker = config
        .pipelines
        .get(&run.pipeline)
        .map(|p| Masker::for_pipeline(p, &std::env::vars().collect()))
        .unwrap_or_default();
    let ledger = project.open_ledger(&config)?;
    let (key, source) = project.keys().load(&args.role).map_err(exit::usage)?;
    let agent_id = state
        .agents
        .get(&args.role)
        .map(|a| a.id.clone())
        .unwrap_or_default();
    let signer = Signer::new(args.role.clone(), agent_id, key);
    let registered = state
        .agents
        .get(&args.role)
        .and_then(|a| a.active_key())
        .map(|k| k.fingerprint.clone());
    if registered.as_deref() != Some(signer.fingerprint().as_str()) {
        let reason = format!(
            "key {} (from {source}) is not the registered key of role '{}' ({})",
            signer.fingerprint(),
            args.role,
            registered.as_deref().unwrap_or("none registered")
        );
        let recorder = match project.system_signer() {
            Ok(s) => s,
            Err(_) => operator(project, &state)?,
        };
        ledger.append(
            &recorder,
            "checkpoint.refused",
            json!({"run": run.id, "stage": stage, "role": args.role, "fingerprint": signer.fingerprint(), "reason": reason}),
        )?;
        return Err(exit::failed(format!(
            "signature refused and recorded: {reason}"
        )));
    }
    let kind = if args.veto {
        "checkpoint.vetoed"
    } else {
        "checkpoint.signed"
    };
    let entry = ledger.append(
        &signer,
        kind,
        json!({"run": run.id, "stage": stage, "role": args.role, "summary": masker.mask(&summary),
               "tokens_used": args.tokens, "via": "gantry sign"}),
    )?;
    if json {
        return output::json(&json!({"run": run.id, "stage": stage, "role": args.role,
            "decision": if args.veto { "vetoed" } else { "signed" }, "seq": entry.seq}));
    }
    println!(
        "{} checkpoint '{stage}' of run {} as {} (seq {})",
        if args.veto { "vetoed" } else { "signed" },
        run.id,
        args.role,
        entry.seq
    );
    Ok(())
}
