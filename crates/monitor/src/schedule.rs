//! When check rounds are due: a fixed interval or a cron expression in local time.
//!
//! Pure: the caller passes the current time and sleeps until the answer.

use chrono::{DateTime, TimeZone, Utc};
use gantry_config::{DEFAULT_MONITOR_INTERVAL, Monitor};

use crate::MonitorError;

/// The schedule of scheduled check rounds.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so often, counted from the previous due time (not from when the round
    /// finished), so rounds do not drift.
    Interval(std::time::Duration),
    /// A cron expression, evaluated in the time zone the caller passes. A time the
    /// spring-forward gap skips runs once when the clock jumps (02:30 → 03:00); a time the
    /// fall-back hour repeats runs once.
    Cron {
        text: String,
        cron: Box<croner::Cron>,
    },
}

impl Schedule {
    /// The schedule of `monitor:` (30 s when it gives neither `schedule` nor `interval`).
    pub fn of(monitor: Option<&Monitor>) -> Result<Schedule, MonitorError> {
        if let Some(text) = monitor.and_then(|m| m.schedule.as_ref()) {
            let cron =
                gantry_config::parse_cron(text).map_err(|message| MonitorError::Schedule {
                    schedule: text.value.clone(),
                    message,
                })?;
            return Ok(Schedule::Cron {
                text: text.value.clone(),
                cron: Box::new(cron),
            });
        }
        let every = monitor
            .and_then(|m| m.interval.as_ref())
            .map_or(DEFAULT_MONITOR_INTERVAL, |i| i.value);
        Ok(Schedule::Interval(every.as_std()))
    }

    /// The first due time strictly after `after`, in `tz`'s wall clock for cron.
    #[must_use]
    pub fn next_after<Tz: TimeZone>(&self, after: DateTime<Tz>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Interval(every) => {
                let every = chrono::Duration::from_std(*every).ok()?;
                Some(after.with_timezone(&Utc) + every)
            }
            Schedule::Cron { cron, .. } => cron
                .find_next_occurrence(&after, false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// How the schedule reads in the report.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Schedule::Interval(every) => {
                format!(
                    "every {}",
                    gantry_config::Duration::from_millis(every.as_millis() as u64)
                )
            }
            Schedule::Cron { text, .. } => format!("cron \"{text}\" (local time)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{FixedOffset, TimeZone, Utc};

    use super::Schedule;

    fn cron(text: &str) -> Schedule {
        Schedule::Cron {
            text: text.into(),
            cron: Box::new(gantry_config::parse_cron(text).unwrap()),
        }
    }

    #[test]
    fn five_and_six_field_expressions() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 5, 59, 30).unwrap();
        assert_eq!(
            cron("0 */6 * * *").next_after(t).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap()
        );
        assert_eq!(
            cron("*/10 * * * * *").next_after(t).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 5, 59, 40).unwrap()
        );
        // Strictly after: a due time is not due again.
        let due = Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap();
        assert_eq!(
            cron("0 */6 * * *").next_after(due).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
        );
    }

    #[test]
    fn cron_is_read_in_the_given_wall_clock() {
        // 09:00 at UTC+2 is 07:00 UTC.
        let tz = FixedOffset::east_opt(2 * 3600).unwrap();
        let t = tz.with_ymd_and_hms(2026, 6, 1, 8, 0, 0).unwrap();
        assert_eq!(
            cron("0 9 * * *").next_after(t).unwrap(),
            Utc.with_ymd_and_hms(2026, 6, 1, 7, 0, 0).unwrap()
        );
    }

    #[test]
    fn intervals_count_from_the_due_time() {
        let s = Schedule::Interval(std::time::Duration::from_millis(1500));
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            s.next_after(t).unwrap(),
            t + chrono::Duration::milliseconds(1500)
        );
        assert_eq!(s.describe(), "every 1s500ms");
    }

    #[test]
    fn daylight_saving_changes_run_each_daily_time_once() {
        use chrono_tz::America::New_York;
        // Spring forward, 2026-03-08: 02:30 does not exist that day.
        let s = cron("30 2 * * *");
        let before = New_York.with_ymd_and_hms(2026, 3, 7, 12, 0, 0).unwrap();
        let first = s.next_after(before).unwrap();
        let second = s.next_after(first.with_timezone(&New_York)).unwrap();
        let third = s.next_after(second.with_timezone(&New_York)).unwrap();
        // Run once, when the clock jumps (03:00 EDT), as Vixie cron does.
        assert_eq!(first, Utc.with_ymd_and_hms(2026, 3, 8, 7, 0, 0).unwrap());
        assert!(second > first && third > second);
        assert_eq!(third - second, chrono::Duration::hours(24));
        // Fall back, 2026-11-01: 01:30 happens twice; it runs once.
        let s = cron("30 1 * * *");
        let before = New_York.with_ymd_and_hms(2026, 10, 31, 12, 0, 0).unwrap();
        let first = s.next_after(before).unwrap();
        let second = s.next_after(first.with_timezone(&New_York)).unwrap();
        assert_eq!(
            first.with_timezone(&New_York).date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
        );
        assert_eq!(
            second.with_timezone(&New_York).date_naive(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
        );
    }
}
