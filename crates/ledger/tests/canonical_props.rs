//! One spelling per entry: a line that parses is exactly the line the writer writes for
//! what it parsed, so no change to a stored line can keep its hash.

use gantry_ledger::{Actor, Entry, ZERO_HASH};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53) + 1..(1i64 << 53)).prop_map(Value::from),
        (-1e15f64..1e15).prop_map(Value::from),
        "[\\x00-\\x7f\u{e9}\u{2028}\u{1f600}]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-c\u{e000}\u{1f600}]{0,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn entry(body: Value) -> Entry {
    Entry {
        seq: 3,
        ts: "2026-11-25T08:13:26.123456Z".into(),
        kind: "x.y".into(),
        actor: Actor {
            role: "operator".into(),
            id: "Ops".into(),
            key: "SHA256:k".into(),
        },
        body,
        prev: ZERO_HASH.into(),
        hash: "ab".repeat(32),
        sig: "c2ln".into(),
    }
}

proptest! {
    #[test]
    fn written_lines_read_back_as_written(body in json_value()) {
        let e = entry(body);
        let line = e.to_line().unwrap();
        let back = Entry::parse_line(&line).unwrap();
        prop_assert_eq!(back.to_line().unwrap(), line);
        prop_assert_eq!(back.compute_hash().unwrap(), e.compute_hash().unwrap());
    }

    #[test]
    fn an_edited_line_either_fails_or_is_canonical(
        body in json_value(),
        at in any::<prop::sample::Index>(),
        edit in 0usize..4,
        byte in any::<u8>(),
    ) {
        let line = entry(body).to_line().unwrap();
        let mut bytes = line.trim_end().as_bytes().to_vec();
        let i = at.index(bytes.len());
        match edit {
            0 => bytes[i] = byte,
            1 => bytes.insert(i, b' '),
            2 => bytes.insert(i, byte),
            _ => { bytes.remove(i); }
        }
        if let Ok(text) = String::from_utf8(bytes)
            && let Ok(e) = Entry::parse_line(&text)
        {
            let rewritten = e.to_line().unwrap();
            prop_assert_eq!(rewritten.trim_end(), text.as_str());
        }
    }
}
