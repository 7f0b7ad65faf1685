//! Expected status codes written as `200`, `2xx` or `200..399`.

use std::fmt;
use std::str::FromStr;

use super::{quote, string_serde};

/// An inclusive range of expected status codes (HTTP statuses, or exit codes for `exec`
/// checks): `200`, `2xx`, `200..399` or `200-399`. The default, like Kubernetes' HTTP
/// probes, is `200..399`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusCodes {
    /// Lowest accepted code.
    pub min: u16,
    /// Highest accepted code.
    pub max: u16,
}

impl StatusCodes {
    /// Whether `code` is in the range.
    #[must_use]
    pub fn contains(&self, code: u16) -> bool {
        (self.min..=self.max).contains(&code)
    }
}

impl Default for StatusCodes {
    fn default() -> Self {
        StatusCodes { min: 200, max: 399 }
    }
}

impl FromStr for StatusCodes {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let bad = || {
            format!(
                "invalid status {}; expected a code (200), a class (2xx) or a range (200..399)",
                quote(text)
            )
        };
        let code = |t: &str| -> Result<u16, String> {
            if t.is_empty() || t.len() > 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u16>().map_err(|_| bad())
        };
        let (min, max) = if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX"))
        {
            let c = code(class)?;
            if !(1..=5).contains(&c) || class.len() != 1 {
                return Err(bad());
            }
            (c * 100, c * 100 + 99)
        } else if let Some((a, b)) = s.split_once("..").or_else(|| s.split_once('-')) {
            (code(a.trim())?, code(b.trim())?)
        } else {
            let c = code(s)?;
            (c, c)
        };
        if min > max {
            return Err(format!(
                "status range {} is empty (start is after end)",
                quote(text)
            ));
        }
        Ok(StatusCodes { min, max })
    }
}

impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

string_serde!(
    StatusCodes,
    "a status code (200), class (2xx) or range (200..399)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = |s: &str| s.parse::<StatusCodes>().unwrap();
        assert_eq!(p("200"), StatusCodes { min: 200, max: 200 });
        assert_eq!(p("2xx"), StatusCodes { min: 200, max: 299 });
        assert_eq!(p("200..399"), StatusCodes::default());
        assert_eq!(p("200-204"), StatusCodes { min: 200, max: 204 });
        assert!(p("0").contains(0));
        for bad in ["", "abc", "6xx", "20xx", "399..200", "1234", "-1"] {
            assert!(bad.parse::<StatusCodes>().is_err(), "{bad}");
        }
    }
}
