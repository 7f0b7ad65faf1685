//! How a checkpoint's role decides: the built-in deterministic agent or an external agent
//! program (JSON task on stdin, JSON answer on stdout). A signature by hand (`gantry sign`)
//! is watched for in the ledger by `tail`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Longest answer read from an external agent.
const MAX_ANSWER: usize = 1024 * 1024;
/// How much of an agent's stderr a failure's reason quotes: its end, where errors are.
const STDERR_KEPT: usize = 2 * 1024;
/// How long an external agent may think when the checkpoint sets no timeout.
pub const DEFAULT_AGENT_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a manual checkpoint looks for a signature.
pub const POLL: Duration = Duration::from_millis(200);

/// A role's verdict on a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub approve: bool,
    pub summary: String,
    pub tokens_used: u64,
}

/// What the built-in agent looks at.
pub struct BuiltInFacts<'a> {
    pub role: &'a str,
    /// Names of steps (anywhere in the run so far) that failed, even if allowed to.
    pub failed_steps: &'a [String],
    pub passed_steps: usize,
    /// Required artefacts, all present and matching the manifest (checked before).
    pub artefacts: &'a [String],
}

/// The deterministic built-in agent: approves only when every step so far passed; the
/// required artefacts were verified before it is asked.
#[must_use]
pub fn built_in(facts: &BuiltInFacts<'_>) -> Decision {
    if facts.failed_steps.is_empty() {
        let artefacts = if facts.artefacts.is_empty() {
            String::new()
        } else {
            format!(
                "; artefacts verified against the manifest: {}",
                facts.artefacts.join(", ")
            )
        };
        Decision {
            approve: true,
            summary: format!(
                "built-in {} agent: all {} steps so far passed{artefacts}",
                facts.role, facts.passed_steps
            ),
            tokens_used: 0,
        }
    } else {
        Decision {
            approve: false,
            summary: format!(
                "built-in {} agent: steps failed: {}",
                facts.role,
                facts.failed_steps.join(", ")
            ),
            tokens_used: 0,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    decision: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    tokens_used: Option<u64>,
}

/// Parses an external agent's answer. Anything but a well-formed
/// `{decision: approve|veto, summary, tokens_used}` is an error, never an approval.
pub fn parse_answer(text: &str, summary_required: bool) -> Result<Decision, String> {
    let answer: Answer = serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "answer is not JSON of the form {{\"decision\": \"approve\"|\"veto\", \"summary\": \"...\", \"tokens_used\": N}}: {e}"
        )
    })?;
    let approve = match answer.decision.as_str() {
        "approve" => true,
        "veto" => false,
        other => {
            return Err(format!(
                "decision must be \"approve\" or \"veto\", not {other:?}"
            ));
        }
    };
    let summary = answer.summary.unwrap_or_default();
    if summary.trim().is_empty() && (summary_required || !approve) {
        return Err(if approve {
            "this checkpoint requires a summary, and the answer has none".to_string()
        } else {
            "a veto must give its reason in `summary`".to_string()
        });
    }
    Ok(Decision {
        approve,
        summary,
        tokens_used: answer.tokens_used.unwrap_or(0),
    })
}

/// Runs an external agent: `sh -c COMMAND` in the project root with the task on stdin.
pub async fn external(
    command: &str,
    root: &Path,
    task: &Value,
    timeout: Duration,
    summary_required: bool,
) -> Result<Decision, String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start agent command `{command}`: {e}"))?;
    let pgid = child.id().map(|p| p as i32);
    let input = serde_json::to_vec(task).unwrap_or_default();
    let mut stdin = child.stdin.take();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    // Task in, answer and stderr out, all at once: an agent blocks once a pipe's buffer
    // (64 KiB) is full, so handling one pipe after another deadlocks an agent that is
    // chatty on stderr before it answers, or one that answers before reading its task.
    let io = async {
        let feed = async {
            if let Some(mut stdin) = stdin.take() {
                // An agent may answer without reading its task; a closed pipe is fine.
                let _ = stdin.write_all(&input).await;
            }
        };
        let ((), out, err) = tokio::join!(
            feed,
            read_head(stdout.take(), MAX_ANSWER),
            read_tail(stderr.take(), STDERR_KEPT)
        );
        let status = child.wait().await;
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(timeout, io).await {
        Ok(done) => done,
        Err(_) => {
            if let Some(pgid) = pgid {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Err(format!(
                "agent command `{command}` did not answer within {}s",
                timeout.as_secs()
            ));
        }
    };
    let status = status.map_err(|e| format!("agent command `{command}`: {e}"))?;
    let (out, overflow) = out;
    if !status.success() {
        let err = err.trim();
        return Err(format!(
            "agent command `{command}` exited with {status}{}",
            if err.is_empty() {
                String::new()
            } else {
                format!(": {err}")
            }
        ));
    }
    if overflow {
        return Err(format!(
            "agent command `{command}`: its answer is longer than {} KiB",
            MAX_ANSWER / 1024
        ));
    }
    parse_answer(&out, summary_required).map_err(|e| format!("agent command `{command}`: {e}"))
}

/// Reads PIPE to its end, keeping the first LIMIT bytes; says whether there was more.
async fn read_head(pipe: Option<impl AsyncRead + Unpin>, limit: usize) -> (String, bool) {
    let mut kept = Vec::new();
    let mut more = false;
    if let Some(mut pipe) = pipe {
        let mut buf = vec![0u8; 64 * 1024];
        // A read error ends the stream like its end does: what came is all there is.
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            let room = limit.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
            more |= n > room;
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), more)
}

/// Reads PIPE to its end, keeping about the last LIMIT bytes.
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, limit: usize) -> String {
    let mut kept = Vec::new();
    if let Some(mut pipe) = pipe {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > 2 * limit {
                kept.drain(..kept.len() - limit);
            }
        }
    }
    if kept.len() > limit {
        kept.drain(..kept.len() - limit);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let d = parse_answer(
            r#"{"decision":"veto","summary":"no","tokens_used":5}"#,
            false,
        )
        .unwrap();
        assert!(!d.approve);
        assert_eq!(d.tokens_used, 5);
        assert!(parse_answer("yes", false).is_err());
        assert!(parse_answer(r#"{"decision":"ok"}"#, false).is_err());
        assert!(parse_answer(r#"{"decision":"approve"}"#, true).is_err());
        assert!(
            parse_answer(r#"{"decision":"approve"}"#, false)
                .unwrap()
                .approve
        );
        assert!(parse_answer(r#"{"decision":"veto"}"#, false).is_err());
    }

    fn ask(command: &str) -> Result<Decision, String> {
        let dir = tempfile::tempdir().unwrap();
        let task = serde_json::json!({"task": "checkpoint", "pad": "x".repeat(200 * 1024)});
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(external(
                command,
                dir.path(),
                &task,
                Duration::from_secs(60),
                false,
            ))
    }

    #[test]
    fn agent_chatty_on_stderr_before_reading_its_task_is_heard() {
        // 1 MiB on stderr before the 200 KiB task is even read: sequential pipes deadlock.
        let d = ask(
            "head -c 1048576 /dev/zero | tr '\\0' e >&2; cat >/dev/null; echo '{\"decision\":\"approve\",\"summary\":\"ok\"}'",
        )
        .unwrap();
        assert!(d.approve);
        assert_eq!(d.summary, "ok");
    }

    #[test]
    fn failing_agent_quotes_the_end_of_its_stderr_and_too_long_answers_are_refused() {
        let err = ask("head -c 100000 /dev/zero | tr '\\0' a >&2; echo the-reason >&2; exit 3")
            .unwrap_err();
        assert!(err.ends_with("the-reason"), "{}", &err[err.len() - 40..]);
        assert!(err.len() < 3 * STDERR_KEPT, "{} bytes", err.len());
        let err = ask("head -c 2000000 /dev/zero | tr '\\0' a").unwrap_err();
        assert!(err.contains("longer than 1024 KiB"), "{err}");
    }

    #[test]
    fn built_in_vetoes_failed_steps() {
        let failed = vec!["ci/test".to_string()];
        let d = built_in(&BuiltInFacts {
            role: "verifier",
            failed_steps: &failed,
            passed_steps: 2,
            artefacts: &[],
        });
        assert!(!d.approve);
        assert!(d.summary.contains("ci/test"));
        let d = built_in(&BuiltInFacts {
            role: "verifier",
            failed_steps: &[],
            passed_steps: 2,
            artefacts: &[],
        });
        assert!(d.approve);
    }
}
