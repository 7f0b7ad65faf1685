//! The checkpoint at the end of a stage: required artefacts checked first (fail fast,
//! naming each missing path), then the role decides — built-in agent, external agent
//! command, or a signature by hand — and the decision is signed by that role.

use std::sync::Arc;
use std::time::Duration;

use gantry_config::{AgentMode, Checkpoint, Summary};
use serde_json::{Value, json};

use crate::agent::{self, BuiltInFacts, DEFAULT_AGENT_TIMEOUT, Decision};
use crate::engine::Ctx;
use crate::events::Event;
use crate::manifest::sha256_file;
use crate::tail::SignatureWatch;

/// Runs the checkpoint; `Err` is the reason the stage fails (veto, missing artefact, ...).
pub(crate) async fn run_checkpoint(
    ctx: &Arc<Ctx>,
    stage: &str,
    cp: &Checkpoint,
) -> Result<(), String> {
    let role = cp.role.value.as_str();
    let what = format!("checkpoint '{stage}' ({role})");
    let mut missing = Vec::new();
    let mut artefacts = Vec::new();
    for path in &cp.requires {
        let full = ctx.root.join(path);
        if !full.is_file() {
            missing.push(path.clone());
            continue;
        }
        let hash = sha256_file(&full).map_err(|e| format!("{what}: {e}"))?;
        let recorded = ctx.shared().manifest.files.get(path).cloned();
        if let Some(recorded) = recorded
            && recorded != hash
        {
            return Err(format!(
                "{what}: artefact {path} changed after it was recorded (manifest {recorded}, now {hash})"
            ));
        }
        artefacts.push(json!({"path": path, "sha256": hash}));
    }
    if !missing.is_empty() {
        return Err(format!(
            "{what}: missing required artefacts: {}",
            missing.join(", ")
        ));
    }
    let Some(agent) = ctx.config.agents.get(role) else {
        return Err(format!(
            "{what}: no agent holds role '{role}' in gantry.yaml"
        ));
    };
    let (mode, mode_name) = match agent.mode() {
        AgentMode::BuiltIn => (agent.mode(), "built_in"),
        AgentMode::Command(_) => (agent.mode(), "command"),
        AgentMode::Manual => (agent.mode(), "manual"),
    };
    let summary_required = cp.summary == Summary::Required;
    let requested = ctx
        .recorder
        .commit(
            &ctx.operator,
            "checkpoint.requested",
            &json!({"run": ctx.run, "stage": stage, "role": role, "agent": agent.id, "mode": mode_name,
                    "requires": artefacts, "summary_required": summary_required}),
        )
        .await
        .map_err(|e| e.to_string())?;
    let timeout: Option<Duration> = cp.timeout.map(Duration::from);
    let mut stop = ctx.stop_tx.subscribe();

    let decision = match mode {
        AgentMode::Manual => {
            ctx.emit(Event::CheckpointWaiting {
                run: ctx.run.clone(),
                stage: stage.into(),
                role: role.into(),
                mode: mode_name.into(),
                hint: format!(
                    "gantry sign {} {stage} --as {role} --summary \"...\"",
                    ctx.run
                ),
            });
            let watch =
                SignatureWatch::new(ctx.recorder.ledger().path(), &ctx.run, stage, requested.seq);
            let limited = async {
                let Some(limit) = timeout else {
                    return watch.wait(agent::POLL).await;
                };
                if let Ok(found) = tokio::time::timeout(limit, watch.wait(agent::POLL)).await {
                    return found;
                }
                // A signature may have landed since the last poll: take it rather than
                // fail a run that was in fact signed in time.
                if let Some(signed) = watch.poll().await? {
                    return Ok(signed);
                }
                Err(timed_out(ctx, stage, role, &what, cp).await)
            };
            let signed = tokio::select! {
                r = limited => r?,
                _ = stop.wait_for(Option::is_some) => return Err(format!("{what}: stopped while waiting")),
            };
            // `gantry sign` already wrote the signed entry; only account for it here.
            return finish(
                ctx,
                stage,
                role,
                &what,
                Decision {
                    approve: signed.approve,
                    summary: signed.summary,
                    tokens_used: signed.tokens_used,
                },
                false,
            )
            .map(|_| ());
        }
        AgentMode::Command(command) => {
            ctx.emit(Event::CheckpointWaiting {
                run: ctx.run.clone(),
                stage: stage.into(),
                role: role.into(),
                mode: mode_name.into(),
                hint: format!("asking `{command}`"),
            });
            let task = task(ctx, stage, role, cp, &artefacts);
            let ask = agent::external(
                command,
                &ctx.root,
                &task,
                timeout.unwrap_or(DEFAULT_AGENT_TIMEOUT),
                summary_required,
            );
            tokio::select! {
                r = ask => r.map_err(|e| format!("{what}: {e}; not approved"))?,
                _ = stop.wait_for(Option::is_some) => return Err(format!("{what}: stopped while waiting")),
            }
        }
        AgentMode::BuiltIn => {
            let shared = ctx.shared();
            let facts = BuiltInFacts {
                role,
                failed_steps: &shared.failed_steps,
                passed_steps: shared.passed_steps,
                artefacts: &cp.requires,
            };
            agent::built_in(&facts)
        }
    };
    finish(ctx, stage, role, &what, decision, true).and_then(|record| {
        record.map_or(Ok(()), |(signer, kind, body)| {
            ctx.recorder.record(&Arc::new(signer), kind, &body);
            Ok(())
        })
    })?;
    ctx.recorder.flush().await.map_err(|e| e.to_string())
}

/// Records that no decision came within the checkpoint's timeout (so the checkpoint stops
/// waiting in the ledger's view and a late `gantry sign` is turned away) and returns the
/// reason the stage fails with.
async fn timed_out(ctx: &Ctx, stage: &str, role: &str, what: &str, cp: &Checkpoint) -> String {
    let limit = cp.timeout.map(|t| t.to_string()).unwrap_or_default();
    let reason = format!("{what}: no signature within {limit}");
    let body =
        json!({"run": ctx.run, "stage": stage, "role": role, "timeout": limit, "reason": reason});
    if let Err(e) = ctx
        .recorder
        .commit(&ctx.operator, "checkpoint.timed_out", &body)
        .await
    {
        return format!("{reason} (and recording that failed: {e})");
    }
    reason
}

type Pending = Option<(gantry_ledger::Signer, &'static str, Value)>;

/// Accounts tokens, emits the decision and returns the entry to sign (when gantry signs on
/// the role's behalf); a veto is an `Err` with its reason.
fn finish(
    ctx: &Ctx,
    stage: &str,
    role: &str,
    what: &str,
    d: Decision,
    sign: bool,
) -> Result<Pending, String> {
    let kind = if d.approve {
        "checkpoint.signed"
    } else {
        "checkpoint.vetoed"
    };
    let mut pending = None;
    if sign {
        let signer =
            (ctx.signers)(role).map_err(|e| format!("{what}: cannot sign as {role}: {e}"))?;
        pending = Some((
            signer,
            kind,
            json!({"run": ctx.run, "stage": stage, "role": role, "summary": d.summary, "tokens_used": d.tokens_used}),
        ));
    }
    let summary = ctx.recorder.masker().mask(&d.summary);
    ctx.emit(Event::CheckpointDecided {
        run: ctx.run.clone(),
        stage: stage.into(),
        role: role.into(),
        decision: if d.approve { "signed" } else { "vetoed" }.into(),
        summary: summary.clone(),
    });
    let tokens = {
        let mut shared = ctx.shared();
        shared.tokens += d.tokens_used;
        shared.tokens
    };
    if let Some(limit) = ctx.pipeline.budget.tokens
        && tokens > limit
    {
        if let Some((signer, kind, body)) = pending.take() {
            ctx.recorder.record(&Arc::new(signer), kind, &body);
        }
        ctx.exceed(
            "tokens",
            &limit.to_string(),
            &format!("agents used {tokens} tokens, budget {limit}"),
        );
    }
    if !d.approve {
        if let Some((signer, kind, body)) = pending.take() {
            ctx.recorder.record(&Arc::new(signer), kind, &body);
        }
        return Err(format!("{what} vetoed: {summary}"));
    }
    Ok(pending)
}

/// The JSON task an external agent gets on stdin.
fn task(ctx: &Ctx, stage: &str, role: &str, cp: &Checkpoint, artefacts: &[Value]) -> Value {
    let stage_cfg = ctx.pipeline.stages.iter().find(|s| *s.name == stage);
    let steps: Vec<Value> = stage_cfg
        .map(|s| {
            s.steps
                .iter()
                .map(|st| json!({"name": st.display_name(), "run": st.run.as_ref().map(|r| ctx.recorder.masker().mask(r))}))
                .collect()
        })
        .unwrap_or_default();
    let shared = ctx.shared();
    ctx.recorder.masker().mask_json(&json!({
        "task": "checkpoint",
        "run": ctx.run,
        "pipeline": ctx.pipeline_name,
        "stage": stage,
        "role": role,
        "steps": steps,
        "failed_steps": shared.failed_steps,
        "passed_steps": shared.passed_steps,
        "artefacts": artefacts,
        "run_dir": ctx.rel(&ctx.run_dir),
        "logs": ctx.rel(&ctx.run_dir.join(stage)),
        "summary": if cp.summary == Summary::Required { "required" } else { "optional" },
        "summary_must_cover": "what you checked, whether every step passed, whether the artefacts match their hashes, and the risks you see",
        "answer": {"decision": "approve | veto", "summary": "text", "tokens_used": "integer"},
    }))
}
