//! Pipeline runs for API callers: start one, read runs and their step logs, and record a
//! decision on a waiting checkpoint as the caller's role.
//!
//! A run started over the API is the gantry binary's own `gantry run` as a child process
//! of the control plane, not the pipeline engine inside this process. Why: a run is
//! already a process of its own everywhere else (pid, host and start time in the ledger;
//! liveness, interruption, Ctrl-C, `--resume`), its steps are process groups that must
//! outlive neither their run nor be tied to the control plane's runtime, and its deploy
//! steps call this API like any client. One engine, driven one way, keeps a run started
//! here indistinguishable from one started at a terminal; the control plane only adds who
//! asked (`caller` in the start entry, [`gantry_pipeline::CALLER_ENV`]). The program is
//! injectable ([`PipelineOptions::program`]) so tests can run a build of their choosing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gantry_ledger::Signer;
use gantry_state::State;
use serde_json::{Value, json};

use crate::{App, By, Caller, ServerError};

/// How long the answer to a start waits for the run's first entry.
const START_WAIT: Duration = Duration::from_secs(60);
/// The most of one step log an answer carries (its end: where a failure shows).
const MAX_LOG_BYTES: usize = 1 << 20;

/// What the control plane needs to run pipelines and sign checkpoints.
pub struct PipelineOptions {
    /// The gantry binary whose `run` command executes a run (the serving binary itself).
    pub program: PathBuf,
    /// The role signers the control plane holds (each a registered, active key at start),
    /// with which it signs checkpoint decisions as the calling token's role.
    pub signers: Vec<Signer>,
}

pub(crate) struct Pipelines {
    program: PathBuf,
    root: PathBuf,
    ledger: PathBuf,
    signers: BTreeMap<String, Arc<Signer>>,
}

fn blocking_failed(e: tokio::task::JoinError) -> ServerError {
    ServerError::Io(std::io::Error::other(e.to_string()))
}

impl Pipelines {
    pub(crate) fn new(opts: PipelineOptions, root: PathBuf, ledger: PathBuf) -> Pipelines {
        Pipelines {
            program: opts.program,
            root,
            ledger,
            signers: opts
                .signers
                .into_iter()
                .map(|s| (s.role().to_string(), Arc::new(s)))
                .collect(),
        }
    }

    /// The ledger file.
    pub(crate) fn ledger(&self) -> &Path {
        &self.ledger
    }

    /// The state folded from the ledger (through the rule table), with runs whose process
    /// is gone shown as interrupted. Recording that finding is left to `gantry runs`: a
    /// read here changes nothing.
    pub(crate) async fn state(&self) -> Result<State, ServerError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || {
            let entries = gantry_ledger::read_entries(&ledger)?.entries;
            let mut state = State::replay(&entries);
            let host = gantry_pipeline::host_name();
            state.runs.mark_interrupted(|run| {
                run.host != host || gantry_pipeline::run_alive(run.pid, run.pid_start)
            });
            Ok::<_, ServerError>(state)
        })
        .await
        .map_err(blocking_failed)?
    }

    /// The key the control plane holds for `role`, if it is still the role's registered
    /// active key in `state`; else why not (409: what to do about it).
    pub(crate) fn signer(&self, state: &State, role: &str) -> Result<Arc<Signer>, ServerError> {
        let signer = self.signers.get(role).ok_or_else(|| ServerError::Conflict(format!(
            "the control plane holds no key for role '{role}' (it loads the registered keys of the agents in gantry.yaml when it starts); \
             add one with `gantry agent keygen {role}` and restart it, or sign with the CLI")))?;
        let active = state
            .agents
            .get(role)
            .and_then(|a| a.active_key())
            .map(|k| k.fingerprint.clone());
        if active.as_deref() != Some(signer.fingerprint().as_str()) {
            return Err(ServerError::Conflict(format!(
                "the key the control plane holds for role '{role}' ({}) is no longer its registered active key ({}); restart it to load the new key",
                signer.fingerprint(),
                active.as_deref().unwrap_or("none")
            )));
        }
        Ok(Arc::clone(signer))
    }

    /// The step logs `step` names (all when `None`), each read only inside its run's
    /// directory; a path that leads out is refused and named, never read.
    pub(crate) async fn logs(&self, id: &str, step: Option<&str>) -> Result<Value, ServerError> {
        let state = self.state().await?;
        let run = gantry_pipeline::find_run(&state.runs, id).map_err(ServerError::NotFound)?;
        let selected = gantry_pipeline::select_logs(run, step).map_err(ServerError::NotFound)?;
        let (root, run_id) = (self.root.clone(), run.id.clone());
        let logs = tokio::task::spawn_blocking(move || {
            selected
                .into_iter()
                .map(|s| read_log(&root, &run_id, s))
                .collect::<Vec<_>>()
        })
        .await
        .map_err(blocking_failed)?;
        Ok(json!({"run": run.id, "status": run.status, "logs": logs}))
    }
}

fn read_log(root: &Path, run: &str, s: gantry_pipeline::StepLog) -> Value {
    let path = match gantry_pipeline::confine(root, run, &s.log) {
        Ok(p) => p,
        Err(why) => {
            let entry = s.seq.map_or_else(String::new, |q| format!(" (seq {q})"));
            return json!({"step": s.name, "log": s.log,
                "refused": format!("refused the log path of step {}{entry}: {why}", s.name)});
        }
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let skip = bytes.len().saturating_sub(MAX_LOG_BYTES);
            json!({"step": s.name, "log": s.log, "bytes": bytes.len(), "truncated": skip > 0,
                "text": String::from_utf8_lossy(&bytes[skip..])})
        }
        Err(e) => {
            json!({"step": s.name, "log": s.log, "refused": format!("cannot read {}: {e}", s.log)})
        }
    }
}

/// A decision on a checkpoint, as the caller asks for it.
pub(crate) struct Decision<'a> {
    pub run: &'a str,
    pub stage: &'a str,
    /// Veto instead of approve.
    pub veto: bool,
    pub summary: &'a str,
    /// Tokens the deciding agent reports, counted against the run's budget.
    pub tokens_used: u64,
}

impl App {
    /// Starts `gantry run PIPELINE` as a child and answers once its start is in the ledger.
    pub(crate) async fn start_run(
        &self,
        p: &Pipelines,
        pipeline: &str,
        jobs: Option<usize>,
    ) -> Result<Value, ServerError> {
        self.core.writable()?;
        let config = self.core.config();
        if !config.pipelines.contains_key(pipeline) {
            return Err(ServerError::NotFound(format!(
                "no pipeline '{pipeline}' in gantry.yaml; pipelines: {}",
                config
                    .pipelines
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some(j) = jobs
            && !(1..=256).contains(&j)
        {
            return Err(ServerError::BadRequest(format!(
                "jobs is {j}; give 1 to 256 stages at once"
            )));
        }
        // Nothing is written through a `.gantry/runs` that leads elsewhere (as `gantry run`
        // refuses it), and the spool file is new, never a link planted in its place.
        let runs_dir = p.root.join(".gantry/runs");
        if runs_dir
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(ServerError::Conflict(format!(
                "{} is a symlink; runs are written only inside .gantry/",
                runs_dir.display()
            )));
        }
        let spool = runs_dir.join("api");
        std::fs::create_dir_all(&spool)?;
        let started_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let out_path = spool.join(format!("{started_ms}-{}.out", rand_suffix()));
        let out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&out_path)?;
        let caller = Caller::current();
        let mut cmd = tokio::process::Command::new(&p.program);
        cmd.arg("-C")
            .arg(&p.root)
            .args(["--json", "run", pipeline])
            .current_dir(&p.root)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own process group: a signal meant for the control plane's terminal
            // (Ctrl-C of a foreground `gantry serve`) does not cut a run short; the run
            // stops its steps itself and stays resumable.
            .process_group(0);
        if let Some(j) = jobs {
            cmd.args(["--jobs", &j.to_string()]);
        }
        if let Some(c) = &caller {
            cmd.env(gantry_pipeline::CALLER_ENV, json!(c).to_string());
        }
        let mut child = cmd.spawn().map_err(|e| {
            ServerError::Io(std::io::Error::other(format!(
                "cannot start {} run {pipeline}: {e}",
                p.program.display()
            )))
        })?;
        let pid = child.id().unwrap_or(0);
        let (exited_tx, exited_rx) = tokio::sync::watch::channel(None);
        // Reaped here so no zombie is left; the run's outcome is in the ledger.
        tokio::spawn(async move {
            let status = child.wait().await.ok();
            tracing::info!(pid, ?status, "pipeline run process ended");
            let _ = exited_tx.send(Some(status.and_then(|s| s.code())));
        });
        let run = self.await_run_start(p, pid, exited_rx, &out_path).await?;
        // The output joins the run's own files once the run has its directory.
        let dir = p.root.join(".gantry/runs").join(&run);
        let output =
            if dir.is_dir() && std::fs::rename(&out_path, dir.join("gantry-run.out")).is_ok() {
                dir.join("gantry-run.out")
            } else {
                out_path
            };
        let output = output
            .strip_prefix(&p.root)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| output.display().to_string());
        Ok(
            json!({"run": run, "pipeline": pipeline, "status": "running", "pid": pid,
            "output": output, "caller": caller}),
        )
    }

    /// The id of the run process `pid` started, from its `pipeline.state.started` entry.
    async fn await_run_start(
        &self,
        p: &Pipelines,
        pid: u32,
        exited: tokio::sync::watch::Receiver<Option<Option<i32>>>,
        out_path: &Path,
    ) -> Result<String, ServerError> {
        let host = gantry_pipeline::host_name();
        let deadline = Instant::now() + START_WAIT;
        loop {
            // Read before looking at the exit, so a run that started and ended at once is found.
            let ledger = p.ledger.clone();
            let host = host.clone();
            let found = tokio::task::spawn_blocking(move || {
                gantry_ledger::read_entries_where(&ledger, |e| {
                    e.kind == "pipeline.state.started"
                        && e.body["pid"] == json!(pid)
                        && e.body["host"] == json!(host)
                })
            })
            .await
            .map_err(blocking_failed)??;
            if let Some(e) = found.entries.last() {
                return Ok(e.body["run"].as_str().unwrap_or_default().to_string());
            }
            if let Some(code) = *exited.borrow() {
                let text = std::fs::read_to_string(out_path).unwrap_or_default();
                let why = last_error(&text);
                return Err(ServerError::Conflict(format!(
                    "`gantry run` ended (exit {}) before the run started: {why}",
                    code.map_or_else(|| "by a signal".to_string(), |c| c.to_string())
                )));
            }
            if Instant::now() >= deadline {
                return Err(ServerError::Unavailable {
                    reason: format!(
                        "`gantry run` (pid {pid}) has not recorded its start after {}s; see {}",
                        START_WAIT.as_secs(),
                        out_path.display()
                    ),
                    retry_after: None,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Records `checkpoint.signed` (or `.vetoed`) for the checkpoint of `stage` in run
    /// `id`, signed with the key of the caller's role, which must be the role the
    /// checkpoint names; any other role is refused with the reason and an `access.denied`
    /// entry. `route` is the API route, for that entry.
    pub(crate) async fn decide(
        &self,
        p: &Pipelines,
        route: &str,
        ask: Decision<'_>,
    ) -> Result<Value, ServerError> {
        let Decision {
            run: id,
            stage,
            veto,
            summary,
            tokens_used,
        } = ask;
        self.core.writable()?;
        let caller = Caller::current().ok_or_else(|| {
            ServerError::Forbidden("a checkpoint decision needs a caller with a role".into())
        })?;
        let state = p.state().await?;
        let run = gantry_pipeline::find_run(&state.runs, id).map_err(ServerError::NotFound)?;
        let permission = if veto { "veto" } else { "sign" };
        let cp = match gantry_pipeline::decidable(run, stage, &caller.role, veto, summary) {
            Ok(cp) => cp,
            Err(e @ gantry_pipeline::DecideError::WrongRole { .. }) => {
                let reason = format!(
                    "{e}; use a token of role '{}'",
                    run.checkpoints
                        .iter()
                        .rev()
                        .find(|c| c.stage == stage)
                        .map(|c| c.role.as_str())
                        .unwrap_or("?")
                );
                self.core
                    .record(
                        By::System,
                        "access.denied",
                        json!({"route": route, "path": format!("/v1/runs/{}/checkpoints/{stage}/{permission}", run.id),
                            "role": caller.role, "token": caller.token, "permission": permission,
                            "reason": "checkpoint_role", "detail": reason}),
                    )
                    .await;
                return Err(ServerError::Forbidden(reason));
            }
            Err(e @ gantry_pipeline::DecideError::NeedsSummary(_)) => {
                return Err(ServerError::BadRequest(e.to_string()));
            }
            Err(e) => return Err(ServerError::Conflict(e.to_string())),
        };
        let signer = p.signer(&state, &cp.role)?;
        let masker = self
            .core
            .config()
            .pipelines
            .get(&run.pipeline)
            .map(|pl| gantry_pipeline::Masker::for_pipeline(pl, &crate::reload::process_env()))
            .unwrap_or_default();
        let kind = if veto {
            "checkpoint.vetoed"
        } else {
            "checkpoint.signed"
        };
        let body = json!({"run": run.id, "stage": stage, "role": cp.role,
            "summary": masker.mask(summary), "tokens_used": tokens_used, "via": "api", "caller": caller});
        let entry = self.core.record_as(signer, kind, body).await?;
        Ok(json!({"run": run.id, "stage": stage, "role": cp.role,
            "decision": if veto { "vetoed" } else { "signed" }, "seq": entry.seq, "caller": caller}))
    }
}

/// The last error line `gantry --json run` wrote (a JSON error object), else its last line.
fn last_error(text: &str) -> String {
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)");
    serde_json::from_str::<Value>(last)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| last.to_string())
}

/// Distinguishes runs started in the same millisecond.
fn rand_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}
