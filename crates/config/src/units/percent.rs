//! Percentages written as `1%`, `0.5%`, `99.9%`.

use std::fmt;
use std::str::FromStr;

use super::{quote, string_serde};

/// A percentage between 0 and 100 inclusive, written with a `%` sign: `1%`, `0.5%`, `100%`.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    /// A percentage from a number between 0 and 100; `None` outside that range or for NaN.
    #[must_use]
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=100.0).contains(&value)).then_some(Percent(value))
    }

    /// The number of percent (0–100).
    #[must_use]
    pub fn value(&self) -> f64 {
        self.0
    }

    /// The same share as a fraction between 0 and 1.
    #[must_use]
    pub fn fraction(&self) -> f64 {
        self.0 / 100.0
    }
}

impl FromStr for Percent {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let Some(number) = s.strip_suffix('%') else {
            return Err(format!(
                "invalid percentage {}; expected a number followed by % such as 1% or 0.5%",
                quote(text)
            ));
        };
        let number = number.trim_end();
        let well_formed = !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && number.bytes().filter(|b| *b == b'.').count() <= 1
            && number.bytes().any(|b| b.is_ascii_digit());
        if !well_formed {
            return Err(format!(
                "invalid percentage {}; expected a number from 0 to 100 followed by %, such as 1% or 0.5%",
                quote(text)
            ));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid percentage {}; expected e.g. 0.5%", quote(text)))?;
        Percent::new(value)
            .ok_or_else(|| format!("percentage {} is out of range 0% to 100%", quote(text)))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

string_serde!(Percent, "a percentage such as 1% or 0.5%");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!("1%".parse::<Percent>().unwrap().value(), 1.0);
        assert_eq!("0.5%".parse::<Percent>().unwrap().fraction(), 0.005);
        assert_eq!("100%".parse::<Percent>().unwrap().to_string(), "100%");
        assert_eq!("0.5%".parse::<Percent>().unwrap().to_string(), "0.5%");
    }

    #[test]
    fn rejects() {
        for bad in [
            "", "1", "%", "-1%", "101%", "1e3%", "nan%", "1.2.3%", ".%", "inf%",
        ] {
            assert!(bad.parse::<Percent>().is_err(), "{bad}");
        }
        assert!(
            "101%"
                .parse::<Percent>()
                .unwrap_err()
                .contains("out of range")
        );
    }
}
