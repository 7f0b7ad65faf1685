//! Kubernetes resource quantities: CPU (`100m`, `0.5`, `2`) and memory (`128Mi`, `1G`,
//! `1048576`), parsed strictly into whole millicores and whole bytes.
//!
//! Kubernetes accepts more (signs, exponents, `m` on memory, precision finer than the unit
//! that it silently rounds up); each of those is a way to write a limit that is not what the
//! writer meant, so here they are errors that say how to write it instead.

use std::fmt;
use std::str::FromStr;

use super::{quote, string_serde};

/// A CPU limit in millicores (`1000` = one core), with the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpu {
    millis: u64,
    text: String,
}

/// A memory limit in bytes, with the text it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    bytes: u64,
    text: String,
}

impl Cpu {
    /// Millicores: `100m` is 100, `2` is 2000.
    #[must_use]
    pub fn millis(&self) -> u64 {
        self.millis
    }
}

impl Memory {
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A decimal number split at its point: the digits as one integer and how many of them are
/// after the point (`1.25` is (125, 2)).
fn decimal(number: &str) -> Option<(u128, u32)> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) {
        return None;
    }
    if number.ends_with('.') || number.len() > 30 {
        return None;
    }
    let all = format!("{int}{frac}");
    Some((all.parse().ok()?, u32::try_from(frac.len()).ok()?))
}

/// `number × multiplier`, when it is a whole number that fits in a u64.
fn whole(number: (u128, u32), multiplier: u128) -> Option<Result<u64, ()>> {
    let (digits, scale) = number;
    let product = digits.checked_mul(multiplier)?;
    let divisor = 10u128.checked_pow(scale)?;
    if product % divisor != 0 {
        return Some(Err(()));
    }
    u64::try_from(product / divisor).ok().map(Ok)
}

/// Splits `12.5Mi` into (`12.5`, `Mi`).
fn split_suffix(text: &str) -> (&str, &str) {
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(at)
}

fn common_errors(kind: &str, text: &str, s: &str, example: &str) -> Option<String> {
    if s.is_empty() {
        return Some(format!("empty {kind} limit; write e.g. {example}"));
    }
    if s.starts_with('-') || s.starts_with('+') {
        return Some(format!(
            "{kind} limit {} has a sign; write a positive quantity such as {example}",
            quote(text)
        ));
    }
    None
}

impl FromStr for Cpu {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if let Some(e) = common_errors("CPU", text, s, "500m or 2") {
            return Err(e);
        }
        let (number, suffix) = split_suffix(s);
        let multiplier = match suffix {
            "m" => 1,
            "" => 1000,
            _ => {
                return Err(format!(
                    "invalid CPU limit {}; expected cores (`2`, `0.5`) or millicores (`500m`)",
                    quote(text)
                ));
            }
        };
        let Some(number) = decimal(number) else {
            return Err(format!(
                "invalid CPU limit {}; expected cores (`2`, `0.5`) or millicores (`500m`)",
                quote(text)
            ));
        };
        match whole(number, multiplier) {
            None => Err(format!("CPU limit {} is too large", quote(text))),
            Some(Err(())) => Err(format!(
                "CPU limit {} is finer than one millicore; round it to whole millicores such as 1m",
                quote(text)
            )),
            Some(Ok(0)) => Err(format!(
                "CPU limit {} is zero; an instance needs some CPU (e.g. 100m)",
                quote(text)
            )),
            Some(Ok(millis)) => Ok(Cpu {
                millis,
                text: s.to_string(),
            }),
        }
    }
}

impl FromStr for Memory {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let s = text.trim();
        if let Some(e) = common_errors("memory", text, s, "256Mi") {
            return Err(e);
        }
        let (number, suffix) = split_suffix(s);
        let multiplier: u128 = match suffix {
            "" => 1,
            "k" => 1000,
            "M" => 1000u128.pow(2),
            "G" => 1000u128.pow(3),
            "T" => 1000u128.pow(4),
            "P" => 1000u128.pow(5),
            "E" => 1000u128.pow(6),
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            "Pi" => 1 << 50,
            "Ei" => 1 << 60,
            // Kubernetes reads `m` as milli-bytes: `128m` is a tenth of a byte, never meant.
            "m" => {
                return Err(format!(
                    "memory limit {} is in milli-bytes (`m`); write mebibytes as `Mi` (e.g. 128Mi) or megabytes as `M`",
                    quote(text)
                ));
            }
            _ => {
                return Err(format!(
                    "invalid memory limit {}; expected a number with an optional suffix Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000), e.g. 256Mi",
                    quote(text)
                ));
            }
        };
        let Some(number) = decimal(number) else {
            return Err(format!(
                "invalid memory limit {}; expected a number with an optional suffix such as Mi or Gi, e.g. 256Mi",
                quote(text)
            ));
        };
        match whole(number, multiplier) {
            None => Err(format!("memory limit {} is too large", quote(text))),
            Some(Err(())) => Err(format!(
                "memory limit {} is not a whole number of bytes",
                quote(text)
            )),
            Some(Ok(0)) => Err(format!(
                "memory limit {} is zero; an instance needs some memory (e.g. 128Mi)",
                quote(text)
            )),
            Some(Ok(bytes)) => Ok(Memory {
                bytes,
                text: s.to_string(),
            }),
        }
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

string_serde!(Cpu, "a CPU quantity such as 500m or 2");
string_serde!(Memory, "a memory quantity such as 256Mi or 1Gi");

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(s: &str) -> Result<u64, String> {
        s.parse::<Cpu>().map(|c| c.millis())
    }

    fn mem(s: &str) -> Result<u64, String> {
        s.parse::<Memory>().map(|m| m.bytes())
    }

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu("100m"), Ok(100));
        assert_eq!(cpu("2"), Ok(2000));
        assert_eq!(cpu("0.5"), Ok(500));
        assert_eq!(cpu(".25"), Ok(250));
        assert_eq!(cpu("1.5"), Ok(1500));
        assert_eq!(cpu(" 250m "), Ok(250));
        assert_eq!("250m".parse::<Cpu>().unwrap().to_string(), "250m");
    }

    #[test]
    fn cpu_rejections_say_why() {
        assert!(
            cpu("0.0005")
                .unwrap_err()
                .contains("finer than one millicore")
        );
        assert!(cpu("0").unwrap_err().contains("zero"));
        assert!(cpu("0m").unwrap_err().contains("zero"));
        assert!(cpu("-1").unwrap_err().contains("sign"));
        assert!(cpu("1.5m").unwrap_err().contains("finer"));
        assert!(cpu("500Mi").unwrap_err().contains("millicores"));
        assert!(cpu("1e3").unwrap_err().contains("millicores"));
        assert!(cpu("").unwrap_err().contains("empty"));
        assert!(cpu("1.").is_err());
        assert!(cpu(".").is_err());
        assert!(cpu("1..2").is_err());
        assert!(
            cpu("99999999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(mem("128Mi"), Ok(128 << 20));
        assert_eq!(mem("1Gi"), Ok(1 << 30));
        assert_eq!(mem("1.5Gi"), Ok(3 << 29));
        assert_eq!(mem("128M"), Ok(128_000_000));
        assert_eq!(mem("64k"), Ok(64_000));
        assert_eq!(mem("4Ki"), Ok(4096));
        assert_eq!(mem("1048576"), Ok(1 << 20));
        assert_eq!("256Mi".parse::<Memory>().unwrap().to_string(), "256Mi");
    }

    #[test]
    fn memory_rejections_say_why() {
        assert!(mem("128m").unwrap_err().contains("milli-bytes"));
        assert!(mem("1.5").unwrap_err().contains("whole number of bytes"));
        assert!(mem("0Mi").unwrap_err().contains("zero"));
        assert!(mem("128MB").unwrap_err().contains("Mi"));
        assert!(mem("128 Mi").is_err());
        assert!(mem("-1Gi").unwrap_err().contains("sign"));
        assert!(mem("1e9").is_err());
        assert!(mem("20Ei").unwrap_err().contains("too large"));
        assert!(mem("Mi").is_err());
    }
}
