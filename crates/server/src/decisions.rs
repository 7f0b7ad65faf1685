//! The decision log for API and MCP callers: list it, veto or approve a service, and grant
//! the approval a deploy waits for, each signed with the key of the calling token's role
//! (the keys [`crate::runs::Pipelines`] holds). The entries are built by
//! [`gantry_state::decide`], as `gantry veto` / `gantry approve` build them; a call the
//! rule table would not admit is refused (403) with an `access.denied` entry, before
//! anything else is written.

use std::time::SystemTime;

use gantry_state::decide::{self, GrantRefused};
use serde_json::{Value, json};

use crate::runs::Pipelines;
use crate::{App, By, Caller, ServerError};

impl App {
    /// The decision log (every approve and veto), of `service` only when named.
    pub(crate) async fn decisions(
        &self,
        p: &Pipelines,
        service: Option<&str>,
    ) -> Result<Value, ServerError> {
        let state = p.state().await?;
        let shown: Vec<&gantry_state::Decision> = state
            .decisions
            .log
            .iter()
            .filter(|d| service.is_none_or(|s| d.service.as_deref() == Some(s)))
            .collect();
        serde_json::to_value(shown).map_err(|e| ServerError::BadRequest(e.to_string()))
    }

    /// `decision.veto` of `veto.service` as the caller's role.
    pub(crate) async fn veto_service(
        &self,
        p: &Pipelines,
        route: &str,
        veto: decide::Veto,
    ) -> Result<Value, ServerError> {
        let caller = self.decider()?;
        self.known_service(&veto.service)?;
        if veto.violation.trim().is_empty() {
            return Err(ServerError::BadRequest(
                "violation is empty; name what is wrong (e.g. a rule name: readinessProbeMissing)"
                    .into(),
            ));
        }
        let body = veto.body(&caller.role);
        let seq = self
            .write_decision(p, route, &caller, "veto", "decision.veto", body)
            .await?;
        Ok(
            json!({"decision": "veto", "service": veto.service, "seq": seq,
            "blocking": veto.blocking, "from": caller.role}),
        )
    }

    /// `decision.approve` of `service` as the caller's role: clears its blocking vetoes.
    pub(crate) async fn approve_service(
        &self,
        p: &Pipelines,
        route: &str,
        service: &str,
        to: &str,
        summary: &str,
    ) -> Result<Value, ServerError> {
        let caller = self.decider()?;
        self.known_service(service)?;
        let body = decide::approve_body(&caller.role, service, to, summary);
        let seq = self
            .write_decision(p, route, &caller, "approve", "decision.approve", body)
            .await?;
        let state = p.state().await?;
        let cleared = state
            .decisions
            .log
            .iter()
            .find(|d| d.seq == seq)
            .map(|d| d.clears.clone())
            .unwrap_or_default();
        Ok(
            json!({"decision": "approve", "service": service, "seq": seq,
            "cleared": cleared, "from": caller.role}),
        )
    }

    /// `approval.granted` for the deploy of `target` (`web` or `web@production`) waiting
    /// in `awaiting_approval`, as the caller's role, which must be the environment's
    /// approval role (403 naming it otherwise); 409 when nothing waits.
    pub(crate) async fn approve_deployment(
        &self,
        p: &Pipelines,
        route: &str,
        target: &str,
        summary: &str,
    ) -> Result<Value, ServerError> {
        let caller = self.decider()?;
        let (service, env) = gantry_config::split_target(target);
        self.known_service(service)?;
        let state = p.state().await?;
        let waiting = decide::awaiting(&state, service, env);
        let (target, d) = match waiting.as_slice() {
            [one] => one,
            [] => {
                return Err(ServerError::Conflict(format!(
                    "no deploy of '{target}' awaits approval; GET /v1/ps shows what runs"
                )));
            }
            several => {
                let names: Vec<&str> = several.iter().map(|(t, _)| t.as_str()).collect();
                return Err(ServerError::BadRequest(format!(
                    "deploys of service '{service}' await approval in several environments ({}); name one as {service}@ENV",
                    names.join(", ")
                )));
            }
        };
        let body = match decide::grant_body(target, d, &caller.role, summary, is_past) {
            Ok(body) => body,
            Err(GrantRefused::WrongRole { needed, message }) => {
                let why = format!("{message}; use a token of role '{needed}'");
                self.deny(route, &caller, "approve", "approval_role", &why)
                    .await;
                return Err(ServerError::Forbidden(why));
            }
            Err(GrantRefused::NotWaiting(why)) => return Err(ServerError::Conflict(why)),
        };
        let seq = self
            .write_decision(p, route, &caller, "approve", "approval.granted", body)
            .await?;
        Ok(
            json!({"decision": "approval", "deployment": d.id, "service": target,
            "env": env.unwrap_or_default(), "version": d.to, "role": caller.role, "seq": seq}),
        )
    }

    fn decider(&self) -> Result<Caller, ServerError> {
        self.core.writable()?;
        Caller::current()
            .ok_or_else(|| ServerError::Forbidden("a decision needs a caller with a role".into()))
    }

    fn known_service(&self, service: &str) -> Result<(), ServerError> {
        let config = self.core.config();
        match config.service(service) {
            Ok(_) => Ok(()),
            Err(unknown) => Err(ServerError::NotFound(unknown.to_string())),
        }
    }

    /// Writes `kind` signed by the caller's role once the rule table would admit it;
    /// refused (403, `access.denied`) when it would not.
    async fn write_decision(
        &self,
        p: &Pipelines,
        route: &str,
        caller: &Caller,
        permission: &str,
        kind: &str,
        mut body: Value,
    ) -> Result<u64, ServerError> {
        let state = p.state().await?;
        if let Some(why) = decide::refusal(&state, &caller.role, kind, &body) {
            let why = format!("role '{}' may not write {kind}: {why}", caller.role);
            self.deny(route, caller, permission, "authority", &why)
                .await;
            return Err(ServerError::Forbidden(why));
        }
        let signer = p.signer(&state, &caller.role)?;
        body["via"] = json!("api");
        body["caller"] = json!(caller);
        Ok(self.core.record_as(signer, kind, body).await?.seq)
    }

    async fn deny(&self, route: &str, caller: &Caller, permission: &str, reason: &str, why: &str) {
        self.core
            .record(
                By::System,
                "access.denied",
                json!({"route": route, "role": caller.role, "token": caller.token,
                    "permission": permission, "reason": reason, "detail": why}),
            )
            .await;
    }
}

fn is_past(ts: &str) -> bool {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .is_ok_and(|t| SystemTime::from(t) <= SystemTime::now())
}
