//! Value types written as strings in `gantry.yaml`: [`Duration`] (`1h30m`), [`Percent`]
//! (`0.5%`), [`Threshold`] (`< 1%`, `<= 500ms`) and [`StatusCodes`] (`200..399`).
//!
//! Each parses with [`std::str::FromStr`] (error: a sentence naming the bad text and the
//! expected form) and deserializes from a YAML string, so a bad value is reported at its line
//! and column.

mod duration;
mod percent;
mod quantity;
mod status;
mod threshold;

pub use duration::{Duration, approximate};
pub use percent::Percent;
pub use quantity::{Cpu, Memory};
pub use status::StatusCodes;
pub use threshold::{Comparison, Number, Threshold, ThresholdValue};

/// Implements `Serialize` (as the `Display` text) and `Deserialize` (from a string, via
/// `FromStr`) for a unit type. Numbers written without quotes reach `FromStr` as their text.
macro_rules! string_serde {
    ($ty:ty, $expecting:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<$ty, E> {
                        self.visit_str(&v.to_string())
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use string_serde;

/// Quotes user text for an error message, shortening it if it is long.
pub(crate) fn quote(text: &str) -> String {
    const MAX: usize = 40;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    format!("'{}'", out.escape_debug())
}
