//! The canonical bytes of an entry: its stored line and its hash preimage, both built from
//! the same RFC 8785 (JCS) pieces.
//!
//! A line is stored exactly as this module writes it, so a reader can require that and no
//! value has two spellings: without it `1.0` and `1`, or `…993` and `…992` beyond 2^53,
//! would be different lines with one hash.

use std::cmp::Ordering;

use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

use crate::entry::Entry;
use crate::strict::MAX_SAFE_INTEGER;

/// The stored line (without its `\n`) and the SHA-256 of the hash preimage.
pub(crate) struct Canonical {
    pub line: Vec<u8>,
    pub hash: [u8; 32],
}

pub(crate) fn canonical(e: &Entry) -> Canonical {
    let body = body_bytes(e);
    let seq = Number::from(e.seq);
    Canonical {
        hash: preimage_hash(e, &seq, &body),
        line: line_bytes(e, &seq, &body),
    }
}

/// The hash alone (a writer builds the line once the entry is signed).
pub(crate) fn hash(e: &Entry) -> [u8; 32] {
    preimage_hash(e, &Number::from(e.seq), &body_bytes(e))
}

/// The stored line alone (a writer already has the hash).
pub(crate) fn line(e: &Entry) -> Vec<u8> {
    line_bytes(e, &Number::from(e.seq), &body_bytes(e))
}

fn body_bytes(e: &Entry) -> Vec<u8> {
    let mut body = Vec::with_capacity(256);
    write_value(&e.body, &mut body);
    body
}

fn line_bytes(e: &Entry, seq: &Number, body: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(body.len() + 320);
    line.extend_from_slice(b"{\"seq\":");
    write_number(seq, &mut line);
    line.extend_from_slice(b",\"ts\":");
    write_str(&e.ts, &mut line);
    line.extend_from_slice(b",\"kind\":");
    write_str(&e.kind, &mut line);
    line.extend_from_slice(b",\"actor\":{\"role\":");
    write_str(&e.actor.role, &mut line);
    line.extend_from_slice(b",\"id\":");
    write_str(&e.actor.id, &mut line);
    line.extend_from_slice(b",\"key\":");
    write_str(&e.actor.key, &mut line);
    line.extend_from_slice(b"},\"body\":");
    line.extend_from_slice(body);
    line.extend_from_slice(b",\"prev\":");
    write_str(&e.prev, &mut line);
    line.extend_from_slice(b",\"hash\":");
    write_str(&e.hash, &mut line);
    line.extend_from_slice(b",\"sig\":");
    write_str(&e.sig, &mut line);
    line.push(b'}');
    line
}

/// SHA-256 of the JCS form of `{seq, ts, kind, actor, body, prev}`: the member names are
/// fixed, so their RFC 8785 order is too (actor, body, kind, prev, seq, ts; id, key, role).
fn preimage_hash(e: &Entry, seq: &Number, body: &[u8]) -> [u8; 32] {
    let mut pre = Vec::with_capacity(body.len() + 256);
    pre.extend_from_slice(b"{\"actor\":{\"id\":");
    write_str(&e.actor.id, &mut pre);
    pre.extend_from_slice(b",\"key\":");
    write_str(&e.actor.key, &mut pre);
    pre.extend_from_slice(b",\"role\":");
    write_str(&e.actor.role, &mut pre);
    pre.extend_from_slice(b"},\"body\":");
    pre.extend_from_slice(body);
    pre.extend_from_slice(b",\"kind\":");
    write_str(&e.kind, &mut pre);
    pre.extend_from_slice(b",\"prev\":");
    write_str(&e.prev, &mut pre);
    pre.extend_from_slice(b",\"seq\":");
    write_number(seq, &mut pre);
    pre.extend_from_slice(b",\"ts\":");
    write_str(&e.ts, &mut pre);
    pre.push(b'}');
    Sha256::digest(&pre).into()
}

/// RFC 8785 serialization of a value.
pub(crate) fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // Already sorted by code point, which differs from UTF-16 order only past U+E000.
            if !members.is_sorted_by(|a, b| utf16_cmp(a.0, b.0) != Ordering::Greater) {
                members.sort_by(|a, b| utf16_cmp(a.0, b.0));
            }
            out.push(b'{');
            for (i, (k, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_value(item, out);
            }
            out.push(b'}');
        }
    }
}

/// RFC 8785 orders member names by their UTF-16 code units.
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    // Below U+E000 (UTF-8 lead bytes under 0xEE) byte order and UTF-16 order agree.
    if a.bytes().chain(b.bytes()).all(|c| c < 0xEE) {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Integers in the safe range are their digits; anything else is an IEEE double printed
/// the ECMAScript way, as RFC 8785 requires.
fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
        out.extend_from_slice(i.to_string().as_bytes());
    } else {
        // serde_json numbers are finite, the only case the canonicalizer refuses.
        let _ = serde_json_canonicalizer::to_writer(n, out);
    }
}

/// RFC 8785 strings: `"` `\` and control characters escaped (the short forms for
/// \b \t \n \f \r, else \u00xx in lowercase), everything else as UTF-8. serde_json writes
/// exactly this; the tests below hold it to the canonicalizer.
fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Actor, ZERO_HASH};
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::json;

    #[derive(Serialize)]
    struct HashedView<'a> {
        seq: u64,
        ts: &'a str,
        kind: &'a str,
        actor: &'a Actor,
        body: &'a Value,
        prev: &'a str,
    }

    fn entry(body: Value, role: &str) -> Entry {
        Entry {
            seq: 7,
            ts: "2026-11-25T08:13:26.123456Z".into(),
            kind: "x.y".into(),
            actor: Actor {
                role: role.into(),
                id: "Ops\u{1}Agent".into(),
                key: "SHA256:abc".into(),
            },
            body,
            prev: ZERO_HASH.into(),
            hash: "ff".into(),
            sig: "AA==".into(),
        }
    }

    fn reference_hash(e: &Entry) -> [u8; 32] {
        let view = HashedView {
            seq: e.seq,
            ts: &e.ts,
            kind: &e.kind,
            actor: &e.actor,
            body: &e.body,
            prev: &e.prev,
        };
        Sha256::digest(serde_json_canonicalizer::to_vec(&view).unwrap()).into()
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}\u{e000}\u{ffff}\u{10000}a-z]{0,8}"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    "[\u{0}-\u{7f}\u{e000}\u{ffff}\u{10000}\u{1f600}a-c]{0,4}",
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn body_encoding_is_rfc8785(v in json_value()) {
            let mut mine = Vec::new();
            write_value(&v, &mut mine);
            prop_assert_eq!(
                String::from_utf8(mine).unwrap(),
                serde_json_canonicalizer::to_string(&v).unwrap()
            );
        }

        #[test]
        fn hash_matches_the_canonicalized_view(v in json_value(), role in any::<String>()) {
            let e = entry(v, &role);
            prop_assert_eq!(canonical(&e).hash, reference_hash(&e));
        }
    }

    #[test]
    fn line_has_format_order_and_no_whitespace() {
        let e = entry(json!({"b": [1, 2.5, "x"], "a": null}), "operator");
        let line = String::from_utf8(canonical(&e).line).unwrap();
        assert_eq!(
            line,
            r#"{"seq":7,"ts":"2026-11-25T08:13:26.123456Z","kind":"x.y","actor":{"role":"operator","id":"Ops\u0001Agent","key":"SHA256:abc"},"body":{"a":null,"b":[1,2.5,"x"]},"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"ff","sig":"AA=="}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_units() {
        // U+FB33 sorts after U+1F600 in UTF-16 (surrogates are D8xx) but before it by
        // code point: the RFC 8785 section 3.2.3 example.
        let v = json!({"\u{fb33}": 1, "\u{1f600}": 2, "\u{80}": 3});
        let mut out = Vec::new();
        write_value(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"\u{80}\":3,\"\u{1f600}\":2,\"\u{fb33}\":1}"
        );
    }
}
