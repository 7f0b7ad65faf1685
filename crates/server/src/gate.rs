//! What a deploy to an environment must pass before its owner starts it: the promotion
//! order (the same version stable, and soaked, in the environment before it) and the
//! environment's policy, which a caller holding `override_policy` may override with a
//! reason that is recorded (`policy.overridden`).

use std::time::{Duration, SystemTime};

use gantry_access::Permission;
use gantry_config::{split_target, target_name};
use serde_json::json;

use crate::ServerError;
use crate::app::App;
use crate::core::By;

/// The file the gate's lines point into, as `gantry policy check` prints them.
const CONFIG_FILE: &str = "gantry.yaml";

/// A ledger timestamp (RFC 3339) as a time.
pub(crate) fn parse_ts(ts: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(t))
}

fn utc(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl App {
    /// Refuses a deploy of `version` to `target` that the promotion order or the
    /// environment's policy does not allow; records an override it lets through.
    pub(crate) async fn admit(
        &self,
        target: &str,
        version: &str,
        override_reason: Option<&str>,
    ) -> Result<(), ServerError> {
        let (service, env) = split_target(target);
        self.refuse_if_vetoed(service).await?;
        let Some(env) = env else {
            if override_reason.is_some() {
                return Err(ServerError::BadRequest(
                    "--override-policy applies to a deploy to an environment; gantry.yaml declares no `environments:`".into(),
                ));
            }
            return Ok(());
        };
        self.promotion(service, env, version)?;
        let config = &self.core.config();
        let report = gantry_policy::check_deploy(
            config,
            CONFIG_FILE,
            Some(&self.core.root),
            service,
            Some(env),
        );
        if !report.vetoed() {
            return Ok(());
        }
        let lines: Vec<String> = report.dangers().map(ToString::to_string).collect();
        let Some(reason) = override_reason.map(str::trim).filter(|r| !r.is_empty()) else {
            return Err(ServerError::PolicyRefused(format!(
                "deploy of service '{service}' {version} to environment '{env}' is refused by its policy:\n{}\n\
                 add what each line names, or override with --override-policy \"REASON\" as a role holding `override_policy`",
                lines.join("\n")
            )));
        };
        let caller = crate::Caller::current();
        let roles = config.access.roles();
        let allowed = caller
            .as_ref()
            .is_some_and(|c| roles.allows(&c.role, Permission::OverridePolicy));
        if !allowed {
            return Err(ServerError::Forbidden(format!(
                "role '{}' may not override the policy of environment '{env}'; roles holding `override_policy`: {}",
                caller.map_or_else(|| "(none)".to_string(), |c| c.role),
                roles.holding(Permission::OverridePolicy).join(", ")
            )));
        }
        let rules: Vec<&str> = report.dangers().map(|v| v.rule.as_str()).collect();
        self.core
            .record(
                By::Operator,
                "policy.overridden",
                json!({"service": target, "env": env, "version": version, "reason": reason,
                    "rules": rules, "violations": lines}),
            )
            .await
            .ok_or_else(|| ServerError::Unavailable {
                reason: "the override could not be recorded in the ledger".into(),
                retry_after: None,
            })?;
        Ok(())
    }

    /// 409 while a blocking veto stands on `service` in the ledger: an API or MCP caller
    /// is stopped as `gantry deploy` is, whichever interface wrote the veto.
    async fn refuse_if_vetoed(&self, service: &str) -> Result<(), ServerError> {
        let ledger = self.core.ledger_path().to_path_buf();
        let read = tokio::task::spawn_blocking(move || gantry_ledger::read_entries(&ledger))
            .await
            .map_err(|e| ServerError::Io(std::io::Error::other(e.to_string())))?;
        // A ledger that cannot be read cannot be appended to either: the deploy's first
        // write refuses it, and marks the control plane critical, as for any change.
        let Ok(read) = read else {
            return Ok(());
        };
        let state = gantry_state::State::replay(&read.entries);
        match state.decisions.veto_refusal(
            service,
            &format!(
                "approves it (POST /v1/decisions/approve, `gantry approve {service} --as ROLE`)"
            ),
        ) {
            Some(why) => Err(ServerError::Conflict(why)),
            None => Ok(()),
        }
    }

    /// The environment before `env` in `promotion:` must run `version` as its stable
    /// version, for at least its `soak:`.
    fn promotion(&self, service: &str, env: &str, version: &str) -> Result<(), ServerError> {
        let config = &self.core.config();
        let Some(before) = config.promoted_from(env) else {
            return Ok(());
        };
        let view = self
            .owners()
            .remove(&target_name(service, Some(before)))
            .map(|o| o.view.borrow().clone())
            .unwrap_or_default();
        if view.stable.as_deref() != Some(version) {
            return Err(ServerError::NotPromoted(format!(
                "service '{service}' {version} may not go to '{env}': it has not succeeded in '{before}', the environment before it in `promotion:` ('{before}' runs {}); deploy it there first: gantry deploy {service} --env {before} --version {version}",
                view.stable.as_deref().unwrap_or("nothing")
            )));
        }
        let soak = config
            .environment(before)
            .and_then(|e| e.soak.as_ref())
            .map_or(Duration::ZERO, |s| s.as_std());
        let since = view.stable_since.unwrap_or(SystemTime::UNIX_EPOCH);
        let soaked = SystemTime::now().duration_since(since).unwrap_or_default();
        if soaked < soak {
            return Err(ServerError::NotPromoted(format!(
                "service '{service}' {version} may not go to '{env}' yet: it has soaked in '{before}' for {} of the {} its `soak:` asks; it may go after {}",
                gantry_config::approximate(soaked),
                gantry_config::approximate(soak),
                utc(since + soak)
            )));
        }
        Ok(())
    }
}
