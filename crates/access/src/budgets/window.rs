//! The windows budgets count in: fixed UTC clock hours and UTC calendar days, so "resets
//! at 15:00 UTC" and "today" mean the same to every agent, whatever its time zone, and a
//! count is a plain filter over timestamps (no sliding state to rebuild after a restart).

use time::{Duration, OffsetDateTime, Time};

/// A budget's counting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// From the top of the current UTC hour to the next.
    Hour,
    /// From 00:00 UTC today to 00:00 UTC tomorrow.
    Day,
}

impl Window {
    /// When the window holding `now` began.
    #[must_use]
    pub fn start(self, now: OffsetDateTime) -> OffsetDateTime {
        let now = now.to_offset(time::UtcOffset::UTC);
        match self {
            Window::Hour => now.replace_time(
                Time::from_hms(now.hour(), 0, 0).expect("an hour of the day is a valid time"),
            ),
            Window::Day => now.replace_time(Time::MIDNIGHT),
        }
    }

    /// When the window holding `now` ends and the count starts again from zero.
    #[must_use]
    pub fn resets(self, now: OffsetDateTime) -> OffsetDateTime {
        self.start(now) + self.length()
    }

    #[must_use]
    pub fn length(self) -> Duration {
        match self {
            Window::Hour => Duration::HOUR,
            Window::Day => Duration::DAY,
        }
    }

    /// Whether `at` falls in the window holding `now`. An entry stamped later than `now`
    /// (another writer's clock ahead of ours) counts: it is use, not a future window's.
    #[must_use]
    pub fn holds(self, at: OffsetDateTime, now: OffsetDateTime) -> bool {
        at >= self.start(now)
    }

    /// How the window reads in a sentence: "this hour", "today".
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Window::Hour => "this hour",
            Window::Day => "today",
        }
    }
}

/// Whole seconds from `now` until `at`, at least 1: a `Retry-After` of 0 would invite a
/// retry that is refused again.
#[must_use]
pub fn seconds_until(at: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let d = at - now;
    let secs = d.whole_seconds() + i64::from(d.subsec_nanoseconds() > 0);
    u64::try_from(secs).unwrap_or(0).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn hours_and_days_are_fixed_utc_windows() {
        let now = datetime!(2026-12-02 14:37:12.5 UTC);
        assert_eq!(Window::Hour.start(now), datetime!(2026-12-02 14:00 UTC));
        assert_eq!(Window::Hour.resets(now), datetime!(2026-12-02 15:00 UTC));
        assert_eq!(Window::Day.start(now), datetime!(2026-12-02 00:00 UTC));
        assert_eq!(Window::Day.resets(now), datetime!(2026-12-03 00:00 UTC));
        // A clock in another offset counts in UTC all the same.
        let there = datetime!(2026-12-03 01:30 +02:00);
        assert_eq!(Window::Day.start(there), datetime!(2026-12-02 00:00 UTC));
        assert_eq!(Window::Hour.resets(there), datetime!(2026-12-03 00:00 UTC));
    }

    #[test]
    fn the_edges_belong_to_the_window_they_start() {
        let midnight = datetime!(2026-12-31 00:00 UTC);
        assert_eq!(Window::Day.start(midnight), midnight);
        assert_eq!(
            Window::Day.resets(midnight),
            datetime!(2027-01-01 00:00 UTC)
        );
        let last = datetime!(2026-12-31 23:59:59.999 UTC);
        assert_eq!(Window::Day.resets(last), datetime!(2027-01-01 00:00 UTC));
        assert_eq!(Window::Hour.resets(last), datetime!(2027-01-01 00:00 UTC));
        assert!(Window::Day.holds(midnight, last));
        assert!(!Window::Day.holds(datetime!(2026-12-30 23:59:59 UTC), last));
        assert!(Window::Hour.holds(datetime!(2026-12-31 23:00 UTC), last));
        assert!(!Window::Hour.holds(datetime!(2026-12-31 22:59:59 UTC), last));
        // Later than now (a writer's clock ahead) still counts.
        assert!(Window::Hour.holds(datetime!(2027-01-01 00:00:01 UTC), last));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = datetime!(2026-12-02 14:59:58.2 UTC);
        assert_eq!(seconds_until(Window::Hour.resets(now), now), 2);
        let on = datetime!(2026-12-02 14:59:58 UTC);
        assert_eq!(seconds_until(Window::Hour.resets(on), on), 2);
        assert_eq!(seconds_until(on, on), 1);
        assert_eq!(seconds_until(on - Duration::SECOND, on), 1);
        let start = datetime!(2026-12-02 00:00 UTC);
        assert_eq!(seconds_until(Window::Day.resets(start), start), 86_400);
    }
}
