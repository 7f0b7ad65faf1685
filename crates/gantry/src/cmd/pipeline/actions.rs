//! The pipeline's built-in actions as this binary provides them: `deploy:` asks the running
//! control plane (`gantry serve`) to deploy and follows the deployment to its end, as
//! `gantry deploy --wait` does; `smoke:` sends one HTTP request (see `smoke.rs`).
//! `doctor:` and `status:` are not available yet and say so.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_config::{Config, StepAction, StrategyKind};
use gantry_pipeline::{ActionFuture, Actions, Unavailable};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::smoke;
use crate::cmd::deploy::client::Client;
use crate::cmd::deploy::rollout;
use crate::output;
use crate::project::Project;

/// Built-in actions backed by the project's control plane.
pub struct ControlPlane {
    root: PathBuf,
    config: Config,
    /// The service the latest `deploy:` step of this run deployed: a `smoke:` path is sent
    /// to it (with one service there is no choice to make).
    last_deployed: Mutex<Option<String>>,
}

impl ControlPlane {
    pub fn new(root: PathBuf, config: Config) -> ControlPlane {
        ControlPlane {
            root,
            config,
            last_deployed: Mutex::new(None),
        }
    }

    async fn deploy(
        &self,
        service: String,
        version: Option<String>,
        environment: Option<String>,
        strategy: Option<StrategyKind>,
        log: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<(), String> {
        let svc = self.config.service(&service).map_err(|e| e.to_string())?;
        let ledger = self.root.join(".gantry/ledger.jsonl");
        if let Some(why) = crate::cmd::decisions::standing_veto(&ledger, &service) {
            return Err(why);
        }
        let version = match version {
            Some(v) => v,
            None => newest(svc.releases.keys().map(String::as_str))
                .ok_or_else(|| format!("service '{service}' has no releases"))?
                .to_string(),
        };
        // Without `environments:` the project has one target per service, and a step's
        // `env:` only names it (as before environments existed).
        let envs = &self.config.environments;
        let env = match environment.clone() {
            Some(e) if !envs.is_empty() => Some(e),
            None if envs.len() == 1 => envs.keys().next().cloned(),
            _ => None,
        };
        if let (Some(named), None) = (&environment, &env) {
            log(&format!(
                "environment '{named}': gantry.yaml declares no `environments:`; deploying to service '{service}' itself"
            ));
        }
        *self
            .last_deployed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(gantry_config::target_name(&service, env.as_deref()));
        let request = Deploy {
            root: self.root.clone(),
            service,
            version,
            strategy,
            env,
        };
        // The control-plane client is blocking (it is the CLI's), so it runs on a blocking
        // thread and hands its progress lines back here for the step's log.
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let cancel = Arc::new(AtomicBool::new(false));
        // If the run stops (budget, Ctrl-C), this future is dropped: stop following. The
        // deployment itself stays with the control plane, which finishes or rolls it back.
        let _stop_following = CancelOnDrop(cancel.clone());
        let follower = tokio::task::spawn_blocking(move || request.run(&tx, &cancel));
        while let Some(line) = rx.recv().await {
            log(&line);
        }
        follower
            .await
            .map_err(|e| format!("following the deployment failed: {e}"))?
    }
}

impl Actions for ControlPlane {
    fn run<'a>(
        &'a self,
        action: StepAction<'a>,
        log: &'a (dyn Fn(&str) + Send + Sync),
    ) -> ActionFuture<'a> {
        match action {
            StepAction::Deploy {
                service,
                version,
                environment,
                strategy,
            } => Box::pin(self.deploy(
                service.to_string(),
                version.map(str::to_string),
                environment.map(str::to_string),
                strategy,
                log,
            )),
            StepAction::Smoke(check) => {
                let last = self
                    .last_deployed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                Box::pin(smoke::run(&self.config, last, check, log))
            }
            other => Unavailable.run(other, log),
        }
    }
}

struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, AtomicOrdering::Relaxed);
    }
}

/// One deploy request, followed on a blocking thread.
struct Deploy {
    root: PathBuf,
    service: String,
    version: String,
    strategy: Option<StrategyKind>,
    env: Option<String>,
}

impl Deploy {
    fn run(self, log: &mpsc::UnboundedSender<String>, cancel: &AtomicBool) -> Result<(), String> {
        let say = |line: String| {
            let _ = log.send(line);
        };
        let project = Project {
            root: self.root.clone(),
        };
        let client = Client::connect(&project).map_err(|e| format!("{e:#}"))?;
        let status = client
            .post(
                &format!("/v1/services/{}/deploy", self.service),
                json!({"version": self.version, "strategy": self.strategy, "env": self.env}),
            )
            .map_err(|e| format!("{e:#}"))?;
        let id = status["id"].as_str().unwrap_or_default().to_string();
        say(format!(
            "deployment {id}: {} {} → {} ({}) started",
            self.service,
            status["from"].as_str().unwrap_or("nothing"),
            self.version,
            status["strategy"].as_str().unwrap_or("default strategy")
        ));
        let mut printed = 0;
        let mut told_promote = false;
        let mut summary = String::new();
        loop {
            if cancel.load(AtomicOrdering::Relaxed) {
                return Err(format!("stopped following deployment {id}"));
            }
            let status = client
                .get(&format!("/v1/deployments/{id}"))
                .map_err(|e| format!("{e:#}"))?;
            let timeline = status["timeline"].as_array().cloned().unwrap_or_default();
            for e in timeline.iter().skip(printed) {
                say(format!(
                    "{}  {}",
                    output::short_ts(e["ts"].as_str().unwrap_or_default()),
                    e["text"].as_str().unwrap_or_default()
                ));
            }
            printed = printed.max(timeline.len());
            if rollout::done(&status) {
                return outcome(&id, &status);
            }
            // The live view shows a step's last line: make it where the rollout stands.
            let now = crate::cmd::deploy::watch::summary(&status);
            if now != summary {
                say(now.clone());
                summary = now;
            }
            let waiting = status["waiting_for_promote"].as_bool() == Some(true);
            if waiting && !told_promote {
                // A pause without a duration would otherwise look like a hang.
                say(format!(
                    "waiting for `gantry promote {}` (the strategy pauses until then)",
                    self.service
                ));
            }
            told_promote = waiting;
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `Ok` for a deployment that succeeded, else the control plane's reason.
fn outcome(id: &str, status: &Value) -> Result<(), String> {
    let phase = status["phase"].as_str().unwrap_or_default();
    if phase == "succeeded" {
        return Ok(());
    }
    let reason = status["reason"].as_str().unwrap_or("no reason recorded");
    Err(format!(
        "deployment {id} {}: {reason}",
        phase.replace('_', " ")
    ))
}

/// The newest name: numbers inside names compare as numbers, so v10 is newer than v9.
fn newest<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names.max_by(|a, b| natural_cmp(a, b))
}

fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let (ca, ra) = chunk(a);
        let (cb, rb) = chunk(b);
        let both_digits = ca.starts_with(|c: char| c.is_ascii_digit())
            && cb.starts_with(|c: char| c.is_ascii_digit());
        let ord = if both_digits {
            let (ta, tb) = (ca.trim_start_matches('0'), cb.trim_start_matches('0'));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb))
        } else {
            ca.cmp(cb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        (a, b) = (ra, rb);
    }
}

/// The leading run of digits, or of non-digits, and the rest.
fn chunk(s: &str) -> (&str, &str) {
    let digits = s.starts_with(|c: char| c.is_ascii_digit());
    let end = s
        .find(|c: char| c.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_release_compares_numbers_as_numbers() {
        assert_eq!(newest(["v1", "v10", "v9"].into_iter()), Some("v10"));
        assert_eq!(newest(["1.2.0", "1.10.0"].into_iter()), Some("1.10.0"));
        assert_eq!(newest(["blue", "green"].into_iter()), Some("green"));
        assert_eq!(newest(std::iter::empty()), None);
    }

    #[test]
    fn outcome_carries_the_reason() {
        let s = json!({"phase": "rolled_back", "reason": "error rate 50% > 5%"});
        assert_eq!(
            outcome("d7", &s).unwrap_err(),
            "deployment d7 rolled back: error rate 50% > 5%"
        );
        assert!(outcome("d7", &json!({"phase": "succeeded"})).is_ok());
    }
}
