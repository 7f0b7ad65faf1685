//! The strict reading of a ledger line: fields in format order and no others, no duplicate
//! keys anywhere, numbers the hash can represent exactly, `ts` and `kind` in their one shape.
//!
//! serde's derived `Deserialize` accepts fields in any order and lets a duplicate body key
//! silently replace the first; both would let two different lines carry one hash.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::entry::{Actor, Entry};

/// Largest integer an IEEE double (and so an RFC 8785 number) holds exactly, with all
/// smaller ones: JavaScript's `Number.MAX_SAFE_INTEGER`, I-JSON's limit.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

pub(crate) const ENTRY_FIELDS: [&str; 8] =
    ["seq", "ts", "kind", "actor", "body", "prev", "hash", "sig"];
const ACTOR_FIELDS: [&str; 3] = ["role", "id", "key"];

/// Where a value sits in an entry, for error messages: `body.steps[2].name`.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Key(parent, key) => {
                let plain =
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if plain {
                    write!(f, "{parent}.{key}")
                } else {
                    write!(f, "{parent}[{}]", Value::String(key.to_string()))
                }
            }
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Why a number cannot be in an entry, or `None` if it can.
pub(crate) fn number_problem(n: &Number) -> Option<String> {
    let safe = if let Some(u) = n.as_u64() {
        u <= MAX_SAFE_INTEGER
    } else if let Some(i) = n.as_i64() {
        i.unsigned_abs() <= MAX_SAFE_INTEGER
    } else {
        n.as_f64()
            .is_some_and(|f| f.is_finite() && f.abs() <= MAX_SAFE_INTEGER as f64)
    };
    (!safe).then(|| {
        format!(
            "number {n} is beyond ±(2^53−1): the hash covers numbers as IEEE doubles \
             (RFC 8785), which cannot hold it exactly"
        )
    })
}

/// Checks every number in `v`; returns whether any is a non-integer (a double whose
/// canonical spelling may differ from how it was given).
pub(crate) fn check_numbers(v: &Value, path: Path<'_>) -> Result<bool, String> {
    match v {
        Value::Number(n) => match number_problem(n) {
            Some(p) => Err(format!("{path}: {p}")),
            None => Ok(n.is_f64()),
        },
        Value::Array(items) => {
            let mut float = false;
            for (i, item) in items.iter().enumerate() {
                float |= check_numbers(item, Path::Index(&path, i))?;
            }
            Ok(float)
        }
        Value::Object(map) => {
            let mut float = false;
            for (k, item) in map {
                float |= check_numbers(item, Path::Key(&path, k))?;
            }
            Ok(float)
        }
        _ => Ok(false),
    }
}

/// Whether a writer accepts `body`: every number within ±(2^53−1) (see FORMAT.md). The
/// error names the value's path, e.g. `body.order.amount`.
pub fn body_problem(body: &Value) -> Option<String> {
    check_numbers(body, Path::Root("body")).err()
}

/// `kind`: dot-separated parts of ASCII letters, digits, `_` and `-`, none empty.
pub fn kind_problem(kind: &str) -> Option<String> {
    let ok = !kind.is_empty()
        && kind.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    (!ok).then(|| {
        format!(
            "kind {:?} is not a dotted name (parts of letters, digits, '_' and '-', e.g. deploy.note)",
            kind
        )
    })
}

/// `ts`: RFC 3339 UTC with exactly six fractional digits, a real calendar time.
pub fn ts_problem(ts: &str) -> Option<String> {
    let b = ts.as_bytes();
    let shape = b.len() == 27
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            26 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    let valid = shape && {
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        time::PrimitiveDateTime::parse(ts, fmt).is_ok()
    };
    (!valid).then(|| {
        format!(
            "ts {:?} is not an RFC 3339 UTC time with microseconds (e.g. 2026-11-25T08:13:26.123456Z)",
            ts
        )
    })
}

/// A JSON value read with duplicate keys and unrepresentable numbers refused.
pub(crate) struct StrictValue<'p>(pub Path<'p>);

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor(self.0))
    }
}

struct ValueVisitor<'p>(Path<'p>);

impl ValueVisitor<'_> {
    fn number<E: de::Error>(&self, n: Number) -> Result<Value, E> {
        match number_problem(&n) {
            Some(p) => Err(E::custom(format!("{}: {p}", self.0))),
            None => Ok(Value::Number(n)),
        }
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON value at {}", self.0)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.number(Number::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.number(Number::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match Number::from_f64(v) {
            Some(n) => self.number(n),
            None => Err(E::custom(format!("{}: number is not finite", self.0))),
        }
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue(Path::Index(&self.0, items.len())))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{}: duplicate key {:?}",
                    self.0,
                    key.as_str()
                )));
            }
            let v = map.next_value_seed(StrictValue(Path::Key(&self.0, &key)))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// Reads the next key and requires it to be `want`, the field that comes next in format
/// order (so a duplicate or a reordering is an error naming the field).
fn expect_key<'de, A: MapAccess<'de>>(
    map: &mut A,
    want: &'static str,
    object: &str,
    order: &[&str],
) -> Result<(), A::Error> {
    match map.next_key::<String>()? {
        Some(k) if k == want => Ok(()),
        Some(k) if order.contains(&k.as_str()) => Err(de::Error::custom(format!(
            "{object}field {k:?} where {want:?} must come: fields must be {} in that order, each once",
            order.join(", ")
        ))),
        Some(k) => Err(de::Error::custom(format!(
            "{object}unknown field {k:?} (expected {want:?})"
        ))),
        None => Err(de::Error::custom(format!("{object}missing field {want:?}"))),
    }
}

fn expect_end<'de, A: MapAccess<'de>>(
    map: &mut A,
    object: &str,
    order: &[&str],
) -> Result<(), A::Error> {
    match map.next_key::<String>()? {
        None => Ok(()),
        Some(k) if order.contains(&k.as_str()) => {
            Err(de::Error::custom(format!("{object}duplicate field {k:?}")))
        }
        Some(k) => Err(de::Error::custom(format!("{object}unknown field {k:?}"))),
    }
}

/// The whole entry, strictly.
pub(crate) struct StrictEntry;

impl<'de> DeserializeSeed<'de> for StrictEntry {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a ledger entry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entry, A::Error> {
        let order = &ENTRY_FIELDS;
        expect_key(&mut m, "seq", "", order)?;
        let seq: u64 = m.next_value()?;
        if seq > MAX_SAFE_INTEGER {
            return Err(de::Error::custom(format!("seq {seq} is beyond ±(2^53−1)")));
        }
        expect_key(&mut m, "ts", "", order)?;
        let ts: String = m.next_value()?;
        if let Some(p) = ts_problem(&ts) {
            return Err(de::Error::custom(p));
        }
        expect_key(&mut m, "kind", "", order)?;
        let kind: String = m.next_value()?;
        if let Some(p) = kind_problem(&kind) {
            return Err(de::Error::custom(p));
        }
        expect_key(&mut m, "actor", "", order)?;
        let actor = m.next_value_seed(StrictActor)?;
        expect_key(&mut m, "body", "", order)?;
        let body = m.next_value_seed(StrictValue(Path::Root("body")))?;
        expect_key(&mut m, "prev", "", order)?;
        let prev: String = m.next_value()?;
        expect_key(&mut m, "hash", "", order)?;
        let hash: String = m.next_value()?;
        expect_key(&mut m, "sig", "", order)?;
        let sig: String = m.next_value()?;
        expect_end(&mut m, "", order)?;
        Ok(Entry {
            seq,
            ts,
            kind,
            actor,
            body,
            prev,
            hash,
            sig,
        })
    }
}

struct StrictActor;

impl<'de> DeserializeSeed<'de> for StrictActor {
    type Value = Actor;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Actor, D::Error> {
        d.deserialize_map(ActorVisitor)
    }
}

struct ActorVisitor;

impl<'de> Visitor<'de> for ActorVisitor {
    type Value = Actor;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an actor object {role, id, key}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Actor, A::Error> {
        let order = &ACTOR_FIELDS;
        let take = |name: &'static str, m: &mut A| -> Result<String, A::Error> {
            expect_key(m, name, "actor: ", order)?;
            let v: String = m.next_value()?;
            if v.is_empty() {
                return Err(de::Error::custom(format!("actor.{name} is empty")));
            }
            Ok(v)
        };
        let role = take("role", &mut m)?;
        let id = take("id", &mut m)?;
        let key = take("key", &mut m)?;
        expect_end(&mut m, "actor: ", order)?;
        Ok(Actor { role, id, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Value, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        StrictValue(Path::Root("body"))
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let err = parse(r#"{"a":{"b":[{"c":1,"c":2}]}}"#).unwrap_err();
        assert!(err.contains("body.a.b[0]: duplicate key \"c\""), "{err}");
        assert!(parse(r#"{"a":1,"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn numbers_beyond_the_safe_range_are_refused() {
        for bad in [
            "9007199254740992",
            "9007199254740993",
            "-9007199254740992",
            "18446744073709551616",
            "1e300",
            "9007199254740993.5",
        ] {
            let err = parse(&format!("{{\"n\":{bad}}}")).unwrap_err();
            assert!(err.contains("body.n: number"), "{bad}: {err}");
        }
        for good in [
            "9007199254740991",
            "-9007199254740991",
            "0.1",
            "-0",
            "1e-300",
        ] {
            assert!(parse(&format!("{{\"n\":{good}}}")).is_ok(), "{good}");
        }
    }

    #[test]
    fn paths_quote_keys_that_are_not_plain() {
        let root = Path::Root("body");
        let k = Path::Key(&root, "a b");
        let i = Path::Index(&k, 3);
        assert_eq!(Path::Key(&i, "x").to_string(), "body[\"a b\"][3].x");
    }

    #[test]
    fn ts_and_kind_shapes() {
        assert!(ts_problem("2026-11-25T08:13:26.123456Z").is_none());
        for bad in [
            "",
            "yesterday",
            "2026-11-25T08:13:26Z",
            "2026-11-25T08:13:26.123Z",
            "2026-11-25T08:13:26.123456+00:00",
            "2026-02-30T08:13:26.123456Z",
            "2026-11-25T24:13:26.123456Z",
            "2026-11-25t08:13:26.123456Z",
            "2026-11-25T23:59:60.000000Z",
        ] {
            assert!(ts_problem(bad).is_some(), "{bad:?}");
        }
        for good in ["a", "deploy.note", "step.state.timed_out", "x-y.Z9"] {
            assert!(kind_problem(good).is_none(), "{good}");
        }
        for bad in ["", ".", "a.", ".a", "a..b", "a b", "a/b", "é"] {
            assert!(kind_problem(bad).is_some(), "{bad:?}");
        }
    }
}
