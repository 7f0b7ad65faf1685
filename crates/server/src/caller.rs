//! Who made the request being served: the token's role and name. The API (and MCP) sets
//! it for the duration of one call; [`crate::App::record`] adds it to every entry it
//! writes for that call as the operator, so the ledger says which role and token asked.
//! Work a call leaves running in the background (a deployment's later steps) carries no
//! caller: those entries are the control plane carrying out what was asked.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    pub role: String,
    /// The token's name (`admin.token` for the admin token file); never its value.
    pub token: String,
}

tokio::task_local! {
    static CALLER: Caller;
}

impl Caller {
    /// Runs `f` as this caller.
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        CALLER.scope(self, f).await
    }

    /// The caller of the call being served, if any.
    pub fn current() -> Option<Caller> {
        CALLER.try_with(Clone::clone).ok()
    }
}
