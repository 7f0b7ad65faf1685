//! The pipeline tools: start a run (and, with `wait`, follow it with progress), read runs
//! and step logs, and sign or veto a waiting checkpoint as the session's role. Each is a
//! call of the API's `/v1/pipelines` and `/v1/runs` routes with the session's token.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::{Gantry, refusal};
use crate::tools::{Answer, answer, failed, segment};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunPipelineArgs {
    /// A pipeline of gantry.yaml (a key of `pipelines:`).
    pub pipeline: String,
    /// Most stages running at once (default: the number of cores).
    #[serde(default)]
    pub jobs: Option<u32>,
    /// Follow the run until it ends (progress notifications for each stage, step and
    /// checkpoint on the way) and answer the finished run.
    #[serde(default)]
    pub wait: bool,
    /// With `wait`: give up following after this many seconds (default 1800); the run
    /// goes on.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsArgs {
    /// One run (its id, a unique prefix, or `last`) with stages, steps and checkpoints;
    /// without it, every run.
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsArgs {
    /// The run: its id, a unique prefix, or `last`.
    pub run: String,
    /// A step, `stage/step`, a stage or a unique prefix (default: every step's log).
    #[serde(default)]
    pub step: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignArgs {
    /// The run waiting at the checkpoint.
    pub run: String,
    /// The stage whose checkpoint to sign.
    pub stage: String,
    /// What was checked and why it is fine (required when the checkpoint says so).
    #[serde(default)]
    pub summary: Option<String>,
    /// Tokens the signing agent used, counted against the run's budget.
    #[serde(default)]
    pub tokens: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VetoArgs {
    /// The run waiting at the checkpoint.
    pub run: String,
    /// The stage whose checkpoint to veto.
    pub stage: String,
    /// Why: the run fails with this as its reason.
    pub summary: String,
    #[serde(default)]
    pub tokens: Option<u64>,
}

/// What a run's state says, one line per stage, step and checkpoint status: a new line is
/// a progress notification.
fn progress_lines(run: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for stage in run["stages"].as_array().into_iter().flatten() {
        let name = stage["name"].as_str().unwrap_or_default();
        for step in stage["steps"].as_array().into_iter().flatten() {
            lines.push(format!(
                "step {name}/{}: {}",
                step["name"].as_str().unwrap_or_default(),
                step["status"].as_str().unwrap_or_default()
            ));
        }
        lines.push(format!(
            "stage {name}: {}",
            stage["status"].as_str().unwrap_or_default()
        ));
    }
    for cp in run["checkpoints"].as_array().into_iter().flatten() {
        let stage = cp["stage"].as_str().unwrap_or_default();
        let role = cp["role"].as_str().unwrap_or_default();
        lines.push(match cp["status"].as_str().unwrap_or_default() {
            "waiting" => format!("checkpoint {stage}: waiting for role {role} to sign"),
            status => format!(
                "checkpoint {stage}: {status} by {}",
                cp["signer"].as_str().unwrap_or(role)
            ),
        });
    }
    lines
}

fn finished(run: &Value) -> bool {
    matches!(
        run["status"].as_str(),
        Some("succeeded" | "failed" | "interrupted")
    )
}

impl Gantry {
    /// Follows run `id` until it ends; each new stage, step or checkpoint status is a
    /// progress notification when the caller asked for progress.
    async fn follow_run(
        &self,
        ctx: &RequestContext<RoleServer>,
        id: &str,
        timeout: Option<u64>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let token = self.token(ctx)?;
        let progress = ctx.meta.get_progress_token();
        let deadline = Instant::now() + Duration::from_secs(timeout.unwrap_or(1800));
        let mut seen = BTreeSet::new();
        loop {
            let run = self
                .api
                .get(&token, &format!("/v1/runs/{}", segment(id)))
                .await
                .map_err(|f| failed("run_pipeline", f))?;
            if let Some(p) = &progress {
                for line in progress_lines(&run) {
                    if seen.insert(line.clone()) {
                        let note = ProgressNotificationParam::new(p.clone(), seen.len() as f64)
                            .with_message(line);
                        // A client that went away only misses the progress, not the result.
                        let _ = ctx.peer.notify_progress(note).await;
                    }
                }
            }
            if finished(&run) {
                return Ok(answer(run));
            }
            if Instant::now() >= deadline {
                return Err(refusal(json!({"error": {
                    "code": "timeout",
                    "message": format!("run {id} had not ended when the wait ran out; it goes on"),
                    "hint": "follow it with the `runs` tool; sign a waiting checkpoint with `sign_checkpoint`",
                    "run": run,
                }})));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tool_router(router = pipeline_router, vis = "pub(crate)")]
impl Gantry {
    #[tool(
        description = "Start a run of a pipeline of gantry.yaml; answers the run id once it is in the ledger. With wait: follow it to the end (progress for each stage, step and checkpoint) and answer the finished run. A checkpoint waits for its role to sign (`sign_checkpoint`).",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn run_pipeline(
        &self,
        Parameters(a): Parameters<RunPipelineArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let mut body = json!({});
        if let Some(j) = a.jobs {
            body["jobs"] = json!(j);
        }
        let started = self
            .post(
                "run_pipeline",
                &ctx,
                &format!("/v1/pipelines/{}/runs", segment(&a.pipeline)),
                body,
            )
            .await?;
        if !a.wait {
            return Ok(answer(started));
        }
        let id = started["run"].as_str().unwrap_or_default().to_string();
        self.follow_run(&ctx, &id, a.timeout_seconds).await
    }

    #[tool(
        description = "Pipeline runs with status, duration and checkpoints; with id, one run with its stages, steps, checkpoints and signers.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn runs(
        &self,
        Parameters(a): Parameters<RunsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let path = match &a.id {
            Some(id) => format!("/v1/runs/{}", segment(id)),
            None => "/v1/runs".to_string(),
        };
        self.get("runs", &ctx, &path).await
    }

    #[tool(
        description = "A run's step logs (all, or those `step` names), read only inside the run's directory.",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn logs(
        &self,
        Parameters(a): Parameters<LogsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let mut path = format!("/v1/runs/{}/logs", segment(&a.run));
        if let Some(step) = &a.step {
            path.push('/');
            path.push_str(&segment(step));
        }
        self.get("logs", &ctx, &path).await
    }

    #[tool(
        description = "Sign the checkpoint a run waits for, as this session's role (it must be the role the checkpoint names); the run goes on to the next stage.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn sign_checkpoint(
        &self,
        Parameters(a): Parameters<SignArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let tokens = a.tokens.or_else(|| self.agent_tokens(&ctx)).unwrap_or(0);
        self.post(
            "sign_checkpoint",
            &ctx,
            &format!(
                "/v1/runs/{}/checkpoints/{}/sign",
                segment(&a.run),
                segment(&a.stage)
            ),
            json!({"summary": a.summary, "tokens": tokens}),
        )
        .await
        .map(answer)
    }

    #[tool(
        description = "Veto the checkpoint a run waits for, as this session's role (it must be the role the checkpoint names): the run fails with the summary as its reason.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn veto(
        &self,
        Parameters(a): Parameters<VetoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<Answer>, CallToolResult> {
        let tokens = a.tokens.or_else(|| self.agent_tokens(&ctx)).unwrap_or(0);
        self.post(
            "veto",
            &ctx,
            &format!(
                "/v1/runs/{}/checkpoints/{}/veto",
                segment(&a.run),
                segment(&a.stage)
            ),
            json!({"summary": a.summary, "tokens": tokens}),
        )
        .await
        .map(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_follow_stages_steps_and_checkpoints() {
        let run = json!({"status": "running", "stages": [{"name": "build", "status": "succeeded",
            "steps": [{"name": "test", "status": "succeeded"}]}],
            "checkpoints": [{"stage": "build", "role": "verifier", "status": "waiting"}]});
        assert_eq!(
            progress_lines(&run),
            [
                "step build/test: succeeded",
                "stage build: succeeded",
                "checkpoint build: waiting for role verifier to sign"
            ]
        );
        assert!(!finished(&run));
        assert!(finished(&json!({"status": "failed"})));
    }
}
