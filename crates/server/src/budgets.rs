//! Agent budgets under `gantry serve`: the tally of what each role used today, kept by
//! following the ledger file (so it survives a restart and counts what other writers
//! recorded: a pipeline's agents' tokens), and the admission of each mutating call against
//! its role's limits (`access.budgets` in gantry.yaml). The arithmetic is
//! `gantry_access::budgets`; this module holds the file, the clock and the locks.
//!
//! Counting is exact under concurrency: the check and the `access.allowed` entry that
//! records an action happen under one lock, and a deploy that was let through counts as
//! started until its call returns (by then its `deployment.state.started` is in the file).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gantry_access::budgets::{self, Call, Exceeded, Limits, Tally, Use};
use gantry_ledger::{Entry, Follower, mentions};
use serde_json::json;
use time::OffsetDateTime;

use crate::{App, By, Caller};

/// Kinds that can hold a use (`budgets::usage_of`), as they appear in a line: lines
/// without one are not parsed at all.
const NEEDLES: [&[u8]; 3] = [
    b"\"kind\":\"access.",
    b"\"kind\":\"deployment.state.started\"",
    b"\"kind\":\"checkpoint.",
];

/// Counts the uses on the ledger lines appended since the last call (the whole ledger at
/// the first); a file cut back under us is counted again from the start.
fn count_new(follow: &mut Follower, tally: &mut Tally) {
    let Ok(lines) = follow.read_lines(|l| NEEDLES.iter().any(|n| mentions(l, n))) else {
        return;
    };
    if follow.rewound {
        *tally = Tally::default();
    }
    for line in lines {
        if let Ok(entry) = serde_json::from_slice::<Entry>(&line)
            && let Some(u) = budgets::usage_of(&entry)
        {
            tally.observe(u);
        }
    }
}

struct Counted {
    follow: Follower,
    tally: Tally,
}

/// The budgets of a running control plane.
pub(crate) struct Budgets {
    counted: tokio::sync::Mutex<Counted>,
    /// Deploys let through whose call has not returned yet, by role.
    in_flight: Arc<Mutex<HashMap<String, u64>>>,
}

/// A deploy let through: counts as started until dropped (when its call has returned).
pub(crate) struct InFlight {
    role: String,
    counts: Arc<Mutex<HashMap<String, u64>>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.role) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Why a call was not let through.
pub(crate) enum Refused {
    Over(Exceeded),
    /// The `access.allowed` entry could not be written, so the call could not be counted.
    Unrecorded,
}

/// The limits gantry.yaml sets now (a reload changes them at once).
pub(crate) fn limits(app: &App) -> BTreeMap<String, Limits> {
    app.core.config().access.budget_limits()
}

impl Budgets {
    pub(crate) fn new(ledger: PathBuf) -> Budgets {
        Budgets {
            counted: tokio::sync::Mutex::new(Counted {
                follow: Follower::new(&ledger),
                tally: Tally::default(),
            }),
            in_flight: Arc::default(),
        }
    }

    fn in_flight(&self, role: &str) -> u64 {
        let counts = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(role).copied().unwrap_or(0)
    }

    /// Lets `call` of `caller` through or says which budget is in the way. An action of a
    /// role with `actions_per_hour` is recorded (`access.allowed`) before it runs; a deploy
    /// gets an [`InFlight`] to hold for the length of the call.
    pub(crate) async fn admit(
        &self,
        app: &App,
        caller: &Caller,
        call: Call,
        route: &str,
    ) -> Result<Option<InFlight>, Refused> {
        let Some(limits) = limits(app).remove(&caller.role) else {
            return Ok(None);
        };
        if !call.action {
            return Ok(None);
        }
        let mut counted = self.counted.lock().await;
        let now = OffsetDateTime::now_utc();
        let Counted { follow, tally } = &mut *counted;
        count_new(follow, tally);
        tally.prune(now);
        tally
            .check(
                &caller.role,
                &limits,
                call,
                self.in_flight(&caller.role),
                now,
            )
            .map_err(Refused::Over)?;
        if limits.counts_actions() {
            let body = json!({"role": caller.role, "token": caller.token, "route": route});
            let recorded = app
                .core
                .record(By::System, budgets::KIND_ALLOWED, body)
                .await;
            if recorded.is_none() {
                return Err(Refused::Unrecorded);
            }
            // The entry is durable now: read it under the same lock, so the next check
            // counts it.
            count_new(follow, tally);
        }
        if !call.deploy {
            return Ok(None);
        }
        let mut counts = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(caller.role.clone()).or_default() += 1;
        Ok(Some(InFlight {
            role: caller.role.clone(),
            counts: Arc::clone(&self.in_flight),
        }))
    }

    /// Records tokens an agent of `caller`'s role reports having used; answers the role's
    /// `tokens_per_day` use after it, when it has that budget.
    pub(crate) async fn report_tokens(
        &self,
        app: &App,
        caller: &Caller,
        tokens: u64,
        via: &str,
    ) -> Result<Option<Use>, Refused> {
        let body =
            json!({"role": caller.role, "token": caller.token, "tokens": tokens, "via": via});
        if app
            .core
            .record(By::System, budgets::KIND_USAGE, body)
            .await
            .is_none()
        {
            return Err(Refused::Unrecorded);
        }
        Ok(self
            .report(app)
            .await
            .into_iter()
            .find(|u| u.role == caller.role && u.budget == budgets::Budget::TokensPerDay))
    }

    /// Every budgeted role's use now.
    pub(crate) async fn report(&self, app: &App) -> Vec<Use> {
        let limits = limits(app);
        if limits.is_empty() {
            return Vec::new();
        }
        let mut counted = self.counted.lock().await;
        let now = OffsetDateTime::now_utc();
        let Counted { follow, tally } = &mut *counted;
        count_new(follow, tally);
        tally.prune(now);
        budgets::report(&limits, tally, now)
    }
}

#[cfg(test)]
mod tests {
    use gantry_access::budgets::{KIND_ALLOWED, KIND_DEPLOY_STARTED, KIND_EXCEEDED, KIND_USAGE};
    use gantry_state::authority::{Owner, rule_for};

    /// `budgets::usage_of` checks signers itself (it cannot fold state); it must ask for
    /// the owner the rule table names.
    #[test]
    fn the_counted_kinds_have_the_owners_usage_of_checks() {
        for kind in [KIND_ALLOWED, KIND_USAGE, KIND_EXCEEDED] {
            assert_eq!(
                rule_for(kind).map(|r| r.owner),
                Some(Owner::System),
                "{kind}"
            );
        }
        assert_eq!(
            rule_for(KIND_DEPLOY_STARTED).map(|r| r.owner),
            Some(Owner::Operator)
        );
        for kind in ["checkpoint.signed", "checkpoint.vetoed"] {
            assert_eq!(
                rule_for(kind).map(|r| r.owner),
                Some(Owner::CheckpointRole),
                "{kind}"
            );
        }
    }
}
