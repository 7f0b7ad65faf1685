//! Thresholds written as `< 1%`, `<= 500ms`, `> 99%`.

use std::fmt;
use std::str::FromStr;

use super::{Duration, Percent, quote};

/// A comparison operator in a [`Threshold`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
}

impl Comparison {
    /// The operator as written.
    #[must_use]
    pub fn symbol(&self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
        }
    }
}

/// A value type that can appear on the right of a [`Threshold`].
pub trait ThresholdValue: FromStr<Err = String> + fmt::Display + PartialOrd + Copy {
    /// What the value is, for error messages ("a percentage").
    const WHAT: &'static str;
    /// An example threshold, for error messages (`< 1%`).
    const EXAMPLE: &'static str;
}

impl ThresholdValue for Percent {
    const WHAT: &'static str = "a percentage";
    const EXAMPLE: &'static str = "< 1%";
}

impl ThresholdValue for Duration {
    const WHAT: &'static str = "a duration";
    const EXAMPLE: &'static str = "< 500ms";
}

/// A finite decimal number (the right side of a Prometheus threshold), e.g. `0.01`.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Number(pub f64);

impl FromStr for Number {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let v: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("invalid number {}", quote(text)))?;
        if v.is_finite() {
            Ok(Number(v))
        } else {
            Err(format!("invalid number {}; it must be finite", quote(text)))
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl ThresholdValue for Number {
    const WHAT: &'static str = "a number";
    const EXAMPLE: &'static str = "< 0.01";
}

/// A condition a measured value must meet, written as an operator and a value:
/// `< 1%`, `<= 500ms`, `> 99%`, `< 0.01`.
///
/// The value must have the threshold's type: `error_rate` takes a percentage, `latency_p99`
/// a duration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold<T> {
    /// The operator.
    pub op: Comparison,
    /// The value compared against.
    pub value: T,
}

impl<T: ThresholdValue> Threshold<T> {
    /// Whether `measured` meets the threshold (e.g. `0.4%` meets `< 1%`).
    pub fn is_met_by(&self, measured: T) -> bool {
        match self.op {
            Comparison::Less => measured < self.value,
            Comparison::LessOrEqual => measured <= self.value,
            Comparison::Greater => measured > self.value,
            Comparison::GreaterOrEqual => measured >= self.value,
        }
    }
}

impl<T: ThresholdValue> FromStr for Threshold<T> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        let (op, rest) = if let Some(r) = s.strip_prefix("<=") {
            (Comparison::LessOrEqual, r)
        } else if let Some(r) = s.strip_prefix(">=") {
            (Comparison::GreaterOrEqual, r)
        } else if let Some(r) = s.strip_prefix('<') {
            (Comparison::Less, r)
        } else if let Some(r) = s.strip_prefix('>') {
            (Comparison::Greater, r)
        } else {
            return Err(format!(
                "invalid threshold {}; expected an operator (<, <=, >, >=) and {}, such as \"{}\"",
                quote(text),
                T::WHAT,
                T::EXAMPLE
            ));
        };
        let value = rest
            .trim()
            .parse::<T>()
            .map_err(|e| format!("invalid threshold {}: {e}", quote(text)))?;
        Ok(Threshold { op, value })
    }
}

impl<T: fmt::Display> fmt::Display for Threshold<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.value)
    }
}

impl<T: fmt::Display> serde::Serialize for Threshold<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, T: ThresholdValue> serde::Deserialize<'de> for Threshold<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T: ThresholdValue> serde::de::Visitor<'_> for V<T> {
            type Value = Threshold<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a threshold such as \"{}\"", T::EXAMPLE)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Threshold<T>, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_thresholds() {
        let t: Threshold<Percent> = "< 1%".parse().unwrap();
        assert_eq!(t.op, Comparison::Less);
        assert!(t.is_met_by(Percent::new(0.5).unwrap()));
        assert!(!t.is_met_by(Percent::new(1.0).unwrap()));
        let t: Threshold<Duration> = "<= 500ms".parse().unwrap();
        assert!(t.is_met_by(Duration::from_millis(500)));
        assert_eq!(t.to_string(), "<= 500ms");
        let t: Threshold<Percent> = ">99%".parse().unwrap();
        assert_eq!(t.to_string(), "> 99%");
        let t: Threshold<Number> = ">= 0.25".parse().unwrap();
        assert!(t.is_met_by(Number(0.3)));
    }

    #[test]
    fn rejects_thresholds() {
        assert!(
            "1%".parse::<Threshold<Percent>>()
                .unwrap_err()
                .contains("operator")
        );
        assert!(
            "< 500ms"
                .parse::<Threshold<Percent>>()
                .unwrap_err()
                .contains("percentage")
        );
        assert!(
            "< 1%"
                .parse::<Threshold<Duration>>()
                .unwrap_err()
                .contains("invalid duration")
        );
        assert!("< nan".parse::<Threshold<Number>>().is_err());
        assert!("=< 1%".parse::<Threshold<Percent>>().is_err());
    }
}
