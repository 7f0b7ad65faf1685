//! Agent budgets: per role, how many mutating API calls an hour (`actions_per_hour`), how
//! many deploys a day (`deploys_per_day`) and how many agent tokens a day
//! (`tokens_per_day`, as agents report them). Pure: the uses come from ledger entries
//! ([`usage_of`]) and the clock is passed in, so the control plane's enforcement and the
//! status report count the same way, before and after a restart.

mod usage;
mod window;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use usage::{
    KIND_ALLOWED, KIND_DEPLOY_STARTED, KIND_EXCEEDED, KIND_USAGE, Usage, Used, usage_of,
};
pub use window::{Window, seconds_until};

/// The largest limit, and the most tokens one report may carry: far above any real use,
/// and far below 2^53, the largest integer a ledger entry holds exactly (RFC 8785).
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// Counts are held below 2^53 so that every figure fits in a ledger entry.
const MAX_EXACT: u64 = (1 << 53) - 1;

/// A role's limits; an absent one is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions_per_hour: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploys_per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
}

impl Limits {
    fn each(&self) -> impl Iterator<Item = (Budget, u64)> {
        [
            (Budget::ActionsPerHour, self.actions_per_hour),
            (Budget::DeploysPerDay, self.deploys_per_day),
            (Budget::TokensPerDay, self.tokens_per_day),
        ]
        .into_iter()
        .filter_map(|(b, l)| l.map(|l| (b, l)))
    }

    /// Whether allowed calls must be recorded (`access.allowed`) to be counted.
    #[must_use]
    pub fn counts_actions(&self) -> bool {
        self.actions_per_hour.is_some()
    }
}

/// One of the three budgets; its name is the config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    ActionsPerHour,
    DeploysPerDay,
    TokensPerDay,
}

impl Budget {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Budget::ActionsPerHour => "actions_per_hour",
            Budget::DeploysPerDay => "deploys_per_day",
            Budget::TokensPerDay => "tokens_per_day",
        }
    }

    #[must_use]
    pub fn window(self) -> Window {
        match self {
            Budget::ActionsPerHour => Window::Hour,
            Budget::DeploysPerDay | Budget::TokensPerDay => Window::Day,
        }
    }

    /// What is counted, plural: "actions", "deploys", "agent tokens".
    #[must_use]
    pub fn unit(self) -> &'static str {
        match self {
            Budget::ActionsPerHour => "actions",
            Budget::DeploysPerDay => "deploys",
            Budget::TokensPerDay => "agent tokens",
        }
    }

    fn amount(self, used: Used) -> u64 {
        match (self, used) {
            (Budget::ActionsPerHour, Used::Action) | (Budget::DeploysPerDay, Used::Deploy) => 1,
            (Budget::TokensPerDay, Used::Tokens(n)) => n,
            _ => 0,
        }
    }
}

/// What a call would spend, decided by the API from its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Call {
    /// A mutating call: counts as an action, and is refused once the day's tokens are spent.
    pub action: bool,
    /// A call that starts a deployment.
    pub deploy: bool,
}

/// A budget's figure for one role at one time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Use {
    pub role: String,
    pub budget: Budget,
    pub limit: u64,
    pub used: u64,
    #[serde(serialize_with = "rfc3339")]
    pub resets_at: OffsetDateTime,
}

impl Use {
    /// RFC 3339 UTC, to the second.
    #[must_use]
    pub fn resets_at_text(&self) -> String {
        self.resets_at.format(&Rfc3339).unwrap_or_default()
    }

    /// "00:00 UTC": a reset is always within the next day.
    #[must_use]
    pub fn resets_short(&self) -> String {
        format!(
            "{:02}:{:02} UTC",
            self.resets_at.hour(),
            self.resets_at.minute()
        )
    }
}

impl std::fmt::Display for Use {
    /// `operator: 7 of 10 deploys today, resets 00:00 UTC`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} of {} {} {}, resets {}",
            self.role,
            self.used,
            self.limit,
            self.budget.unit(),
            self.budget.window().describe(),
            self.resets_short()
        )
    }
}

fn rfc3339<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.format(&Rfc3339).map_err(serde::ser::Error::custom)?)
}

/// Why a call is refused: the budgets it would go over (at least one), and when it may be
/// made again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub over: Vec<Use>,
}

impl Exceeded {
    /// When every budget in the way has reset.
    #[must_use]
    pub fn resets_at(&self) -> OffsetDateTime {
        self.over
            .iter()
            .map(|u| u.resets_at)
            .max()
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The first budget in the way (the one the error code's message leads with).
    #[must_use]
    pub fn first(&self) -> &Use {
        &self.over[0]
    }

    /// `role 'operator' has used 10 of 10 deploys today (deploys_per_day); it resets at
    /// 2026-12-03T00:00:00Z`, one clause per budget.
    #[must_use]
    pub fn message(&self) -> String {
        let parts: Vec<String> = self
            .over
            .iter()
            .map(|u| {
                format!(
                    "{} of {} {} {} ({}), resets at {}",
                    u.used,
                    u.limit,
                    u.budget.unit(),
                    u.budget.window().describe(),
                    u.budget.name(),
                    u.resets_at_text()
                )
            })
            .collect();
        format!(
            "role '{}' is over its budget: used {}",
            self.first().role,
            parts.join("; and ")
        )
    }
}

/// The uses of every role since the start of today, folded from ledger entries.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    uses: Vec<Usage>,
}

impl Tally {
    pub fn observe(&mut self, usage: Usage) {
        self.uses.push(usage);
    }

    /// Forgets what no window holding `now` can count any more.
    pub fn prune(&mut self, now: OffsetDateTime) {
        let day = Window::Day.start(now);
        self.uses.retain(|u| u.at >= day);
    }

    /// How much of `budget` `role` has used in the window holding `now`.
    #[must_use]
    pub fn used(&self, role: &str, budget: Budget, now: OffsetDateTime) -> u64 {
        let window = budget.window();
        self.uses
            .iter()
            .filter(|u| u.role == role && window.holds(u.at, now))
            .fold(0u64, |sum, u| sum.saturating_add(budget.amount(u.used)))
            .min(MAX_EXACT)
    }

    /// Each of `role`'s budgets with its use at `now`.
    #[must_use]
    pub fn uses(&self, role: &str, limits: &Limits, now: OffsetDateTime) -> Vec<Use> {
        limits
            .each()
            .map(|(budget, limit)| Use {
                role: role.to_string(),
                budget,
                limit,
                used: self.used(role, budget, now),
                resets_at: budget.window().resets(now),
            })
            .collect()
    }

    /// Whether `role` may make `call` now. `in_flight` deploys were allowed but have not
    /// reached the ledger yet, so two deploys at once cannot both take the last one.
    pub fn check(
        &self,
        role: &str,
        limits: &Limits,
        call: Call,
        in_flight: u64,
        now: OffsetDateTime,
    ) -> Result<(), Exceeded> {
        if !call.action {
            return Ok(());
        }
        let over: Vec<Use> = self
            .uses(role, limits, now)
            .into_iter()
            .filter(|u| match u.budget {
                Budget::ActionsPerHour | Budget::TokensPerDay => u.used >= u.limit,
                Budget::DeploysPerDay => call.deploy && u.used.saturating_add(in_flight) >= u.limit,
            })
            .map(|mut u| {
                if u.budget == Budget::DeploysPerDay {
                    u.used = u.used.saturating_add(in_flight).min(MAX_EXACT);
                }
                u
            })
            .collect();
        if over.is_empty() {
            Ok(())
        } else {
            Err(Exceeded { over })
        }
    }
}

/// Every budgeted role's use at `now`, role by role, for the status report.
#[must_use]
pub fn report(budgets: &BTreeMap<String, Limits>, tally: &Tally, now: OffsetDateTime) -> Vec<Use> {
    budgets
        .iter()
        .flat_map(|(role, limits)| tally.uses(role, limits, now))
        .collect()
}

/// The tally of `entries` (a whole ledger, or any part holding today).
#[must_use]
pub fn tally<'a>(entries: impl IntoIterator<Item = &'a gantry_ledger::Entry>) -> Tally {
    let mut t = Tally::default();
    for e in entries {
        if let Some(u) = usage_of(e) {
            t.observe(u);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn at(role: &str, when: OffsetDateTime, used: Used) -> Usage {
        Usage {
            at: when,
            role: role.into(),
            used,
        }
    }

    const ACT: Call = Call {
        action: true,
        deploy: false,
    };
    const DEPLOY: Call = Call {
        action: true,
        deploy: true,
    };

    #[test]
    fn the_call_after_the_limit_is_refused_until_the_window_resets() {
        let limits = Limits {
            actions_per_hour: Some(3),
            ..Limits::default()
        };
        let mut t = Tally::default();
        let now = datetime!(2026-12-02 14:20 UTC);
        for m in [1, 5, 19] {
            assert_eq!(t.check("operator", &limits, ACT, 0, now), Ok(()));
            t.observe(at(
                "operator",
                datetime!(2026-12-02 14:00 UTC) + time::Duration::minutes(m),
                Used::Action,
            ));
        }
        let e = t.check("operator", &limits, ACT, 0, now).unwrap_err();
        assert_eq!(e.first().used, 3);
        assert_eq!(e.resets_at(), datetime!(2026-12-02 15:00 UTC));
        assert_eq!(
            e.message(),
            "role 'operator' is over its budget: used 3 of 3 actions this hour \
             (actions_per_hour), resets at 2026-12-02T15:00:00Z"
        );
        // Reads are never refused, and the next hour starts from zero.
        assert_eq!(
            t.check("operator", &limits, Call::default(), 0, now),
            Ok(())
        );
        let next = datetime!(2026-12-02 15:00 UTC);
        assert_eq!(t.check("operator", &limits, ACT, 0, next), Ok(()));
        assert_eq!(t.used("operator", Budget::ActionsPerHour, next), 0);
    }

    #[test]
    fn deploys_count_per_day_with_the_ones_in_flight_and_roles_apart() {
        let limits = Limits {
            deploys_per_day: Some(2),
            ..Limits::default()
        };
        let mut t = Tally::default();
        let now = datetime!(2026-12-02 23:59 UTC);
        t.observe(at(
            "operator",
            datetime!(2026-12-02 00:00 UTC),
            Used::Deploy,
        ));
        t.observe(at(
            "operator",
            datetime!(2026-12-01 23:59 UTC),
            Used::Deploy,
        ));
        assert_eq!(t.check("operator", &limits, DEPLOY, 0, now), Ok(()));
        let e = t.check("operator", &limits, DEPLOY, 1, now).unwrap_err();
        assert_eq!((e.first().used, e.first().limit), (2, 2));
        assert_eq!(e.resets_at(), datetime!(2026-12-03 00:00 UTC));
        // Not a deploy: the deploy budget is not in the way.
        assert_eq!(t.check("operator", &limits, ACT, 5, now), Ok(()));
        // Another role's count is its own.
        t.observe(at("operator", now, Used::Deploy));
        assert!(t.check("operator", &limits, DEPLOY, 0, now).is_err());
        assert_eq!(t.check("deployer", &limits, DEPLOY, 0, now), Ok(()));
        let shown: Vec<String> = t
            .uses("operator", &limits, now)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["operator: 2 of 2 deploys today, resets 00:00 UTC"]);
    }

    #[test]
    fn tokens_spent_refuse_every_mutating_call_and_all_budgets_in_the_way_are_named() {
        let limits = Limits {
            actions_per_hour: Some(1),
            tokens_per_day: Some(1000),
            deploys_per_day: None,
        };
        let mut t = Tally::default();
        let now = datetime!(2026-12-02 10:30 UTC);
        t.observe(at(
            "planner",
            datetime!(2026-12-02 01:00 UTC),
            Used::Tokens(600),
        ));
        assert_eq!(t.check("planner", &limits, ACT, 0, now), Ok(()));
        t.observe(at(
            "planner",
            datetime!(2026-12-02 09:00 UTC),
            Used::Tokens(400),
        ));
        let e = t.check("planner", &limits, DEPLOY, 0, now).unwrap_err();
        assert_eq!(e.over.len(), 1);
        assert_eq!(e.first().budget, Budget::TokensPerDay);
        assert_eq!(e.first().used, 1000);
        t.observe(at("planner", now, Used::Action));
        let e = t.check("planner", &limits, ACT, 0, now).unwrap_err();
        let names: Vec<_> = e.over.iter().map(|u| u.budget.name()).collect();
        assert_eq!(names, ["actions_per_hour", "tokens_per_day"]);
        // Retry-After waits for the later of the two resets.
        assert_eq!(e.resets_at(), datetime!(2026-12-03 00:00 UTC));
        t.prune(datetime!(2026-12-03 00:00 UTC));
        assert_eq!(
            t.used(
                "planner",
                Budget::TokensPerDay,
                datetime!(2026-12-03 00:00 UTC)
            ),
            0
        );
    }

    #[test]
    fn the_report_lists_each_budget_of_each_role() {
        let mut budgets = BTreeMap::new();
        budgets.insert(
            "operator".to_string(),
            Limits {
                actions_per_hour: Some(60),
                deploys_per_day: Some(10),
                tokens_per_day: Some(200_000),
            },
        );
        budgets.insert(
            "planner".to_string(),
            Limits {
                tokens_per_day: Some(5000),
                ..Limits::default()
            },
        );
        let mut t = Tally::default();
        let now = datetime!(2026-12-02 14:37 UTC);
        for _ in 0..7 {
            t.observe(at("operator", now, Used::Deploy));
            t.observe(at("operator", now, Used::Action));
        }
        t.observe(at("planner", now, Used::Tokens(1234)));
        let lines: Vec<String> = report(&budgets, &t, now)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "operator: 7 of 60 actions this hour, resets 15:00 UTC",
                "operator: 7 of 10 deploys today, resets 00:00 UTC",
                "operator: 0 of 200000 agent tokens today, resets 00:00 UTC",
                "planner: 1234 of 5000 agent tokens today, resets 00:00 UTC",
            ]
        );
        let json = serde_json::to_value(&report(&budgets, &t, now)[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"role": "operator", "budget": "deploys_per_day", "limit": 10,
                "used": 7, "resets_at": "2026-12-03T00:00:00Z"})
        );
    }
}
