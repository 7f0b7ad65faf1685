//! Durations written as `500ms`, `1s`, `5m`, `1h30m`, `2d`.

use std::fmt;
use std::str::FromStr;

use super::{quote, string_serde};

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

const FORM: &str = "a duration such as 500ms, 30s, 5m, 1h30m or 2d";

/// A span of time with millisecond resolution, written as whole numbers with units in
/// decreasing order: `500ms`, `1s`, `5m`, `1h`, `1h30m`, `2d`, `1m30s500ms`.
///
/// Units are `d` (days), `h`, `m` (minutes), `s` and `ms`. Fractions (`1.5s`), signs,
/// spaces, spelled-out units (`5 minutes`) and values beyond about 584 million years are
/// rejected with a message saying what is wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// The zero duration.
    pub const ZERO: Duration = Duration(std::time::Duration::ZERO);

    /// A duration of `ms` milliseconds.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// A duration of `s` seconds.
    #[must_use]
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// The equivalent [`std::time::Duration`].
    #[must_use]
    pub const fn as_std(&self) -> std::time::Duration {
        self.0
    }

    /// Whole milliseconds (saturating).
    #[must_use]
    pub fn as_millis(&self) -> u64 {
        u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether this is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if s.is_empty() {
            return Err(format!("empty duration; expected {FORM}"));
        }
        if s.starts_with('-') {
            return Err(format!(
                "negative duration {}; expected {FORM}",
                quote(text)
            ));
        }
        let mut rest = s;
        let mut total: u64 = 0;
        // Index into UNITS of the last unit seen; the next must be smaller.
        let mut last: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(
                    if rest.starts_with(|c: char| c.is_ascii_alphabetic()) && last.is_none() {
                        format!(
                            "missing number in duration {}; expected {FORM}",
                            quote(text)
                        )
                    } else {
                        format!("invalid duration {}; expected {FORM}", quote(text))
                    },
                );
            }
            let (number, after) = rest.split_at(digits);
            let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (unit, after) = after.split_at(unit_len);
            if unit.is_empty() {
                let next = after.chars().next();
                return Err(match next {
                    None => format!(
                        "missing unit in duration {}; write e.g. {number}s or {number}ms",
                        quote(text)
                    ),
                    Some('.') => format!(
                        "fractional duration {} is not supported; use a smaller unit (e.g. 1500ms instead of 1.5s)",
                        quote(text)
                    ),
                    Some(_) => format!("invalid duration {}; expected {FORM}", quote(text)),
                });
            }
            let Some(index) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(format!(
                    "unknown unit '{}' in duration {}; use ms, s, m, h or d (e.g. 5m)",
                    unit.escape_debug(),
                    quote(text)
                ));
            };
            if let Some(prev) = last
                && index <= prev
            {
                return Err(format!(
                    "units in duration {} must go from largest to smallest, each once (e.g. 1h30m)",
                    quote(text)
                ));
            }
            last = Some(index);
            let too_large = || format!("duration {} is too large", quote(text));
            let n: u64 = number.parse().map_err(|_| too_large())?;
            let ms = n.checked_mul(UNITS[index].1).ok_or_else(too_large)?;
            total = total.checked_add(ms).ok_or_else(too_large)?;
            rest = after;
        }
        Ok(Duration::from_millis(total))
    }
}

impl fmt::Display for Duration {
    /// Canonical form: `0s`, `500ms`, `1h30m`, `2d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

string_serde!(Duration, "a duration such as 500ms, 30s, 5m, 1h30m or 2d");

/// A wait as people read it in a status line: `45s`, `9m58s`, `2h`, `1h30m` (seconds
/// dropped once it is hours).
#[must_use]
pub fn approximate(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    match (h, m, sec) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, sec) => format!("{m}m{sec}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximate_drops_seconds_once_it_is_hours() {
        let s = std::time::Duration::from_secs;
        assert_eq!(approximate(s(45)), "45s");
        assert_eq!(approximate(s(598)), "9m58s");
        assert_eq!(approximate(s(600)), "10m");
        assert_eq!(approximate(s(7200)), "2h");
        assert_eq!(approximate(s(5415)), "1h30m");
    }

    fn ms(s: &str) -> u64 {
        s.parse::<Duration>().unwrap().as_millis()
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(ms("500ms"), 500);
        assert_eq!(ms("1s"), 1_000);
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("1h"), 3_600_000);
        assert_eq!(ms("1h30m"), 5_400_000);
        assert_eq!(ms("2d"), 172_800_000);
        assert_eq!(ms("0s"), 0);
        assert_eq!(ms("1m30s500ms"), 90_500);
        for s in ["0s", "500ms", "1h30m", "2d", "1d1h1m1s1ms"] {
            assert_eq!(s.parse::<Duration>().unwrap().to_string(), s);
        }
        assert_eq!(Duration::from_secs(90).to_string(), "1m30s");
    }

    #[test]
    fn rejects_with_reasons() {
        let err = |s: &str| s.parse::<Duration>().unwrap_err();
        assert!(err("").contains("empty duration"));
        assert!(err("5 minutes").contains("invalid duration '5 minutes'"));
        assert!(err("5minutes").contains("unknown unit 'minutes'"));
        assert!(err("-1s").contains("negative duration"));
        assert!(err("5").contains("missing unit"));
        assert!(err("1.5s").contains("fractional"));
        assert!(err("30m1h").contains("largest to smallest"));
        assert!(err("1m1m").contains("largest to smallest"));
        assert!(err("s").contains("missing number"));
        assert!(err("99999999999999999999s").contains("too large"));
        assert!(err("999999999999999d").contains("too large"));
        assert!(err("213503982335d").contains("too large"));
        assert!(err("213503982334d15h").contains("too large"));
        assert!(err("10s5").contains("missing unit"));
    }
}
