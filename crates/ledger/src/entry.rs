//! The entry record, its canonical hash and its signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signature;
use serde::de::DeserializeSeed;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canon::{self, canonical, write_value};
use crate::error::{LedgerError, Result};
use crate::keys::Signer;
use crate::strict::{Path, StrictEntry, check_numbers};

/// Domain separation for entry signatures, so a ledger signature can never be replayed as
/// a signature over anything else the same key signs (checkpoints, DSSE envelopes).
pub const SIG_CONTEXT: &[u8] = b"gantry-ledger/v1\0";
/// `prev` of the first entry.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub const KIND_GENESIS: &str = "ledger.genesis";
pub const KIND_REGISTERED: &str = "agent.registered";
pub const KIND_ROTATED: &str = "agent.rotated";
pub const KIND_SEALED: &str = "ledger.sealed";
pub const KIND_RECOVERED: &str = "ledger.recovered";
pub const FORMAT: &str = "gantry-ledger/v1";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub role: String,
    pub id: String,
    /// Fingerprint of the signing key.
    pub key: String,
}

/// Serialize gives the fields in format order, for JSON output and export; the stored line
/// is written by [`Entry::to_line`] and read by [`Entry::parse_line`], which are stricter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub ts: String,
    pub kind: String,
    pub actor: Actor,
    pub body: Value,
    pub prev: String,
    pub hash: String,
    pub sig: String,
}

/// An entry to append; seq, ts, actor, prev, hash and sig are filled in by the ledger.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEntry {
    pub kind: String,
    pub body: Value,
}

impl NewEntry {
    pub fn new(kind: impl Into<String>, body: Value) -> Self {
        NewEntry {
            kind: kind.into(),
            body,
        }
    }
}

impl Entry {
    /// Strict parse of one ledger line (a trailing '\n' is allowed): the rules of FORMAT.md
    /// *Entry* (field order, no unknown or duplicate keys, number range, `ts` and `kind`
    /// shapes) and the line must be byte for byte its canonical form. Semantic checks
    /// (hash, signature, chain) are `verify`'s job.
    pub fn parse_line(line: &str) -> Result<Entry> {
        Ok(parse_checked(line)?.0)
    }

    /// The line as stored: the canonical form (FORMAT.md), plus '\n'.
    pub fn to_line(&self) -> Result<String> {
        let mut line = crate::canon::line(self);
        line.push(b'\n');
        // Built from &str pieces and ASCII punctuation only.
        String::from_utf8(line).map_err(|e| LedgerError::InvalidLine(e.to_string()))
    }

    /// SHA-256 of the RFC 8785 canonical JSON of {seq, ts, kind, actor, body, prev}.
    pub fn compute_hash(&self) -> Result<[u8; 32]> {
        Ok(canonical(self).hash)
    }

    /// The stored `hash` as raw bytes, if it is 64 hex digits.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        decode_hash(&self.hash)
    }

    /// The stored `sig` as a signature, if it is base64 of 64 bytes.
    pub fn signature(&self) -> Option<Signature> {
        let raw = STANDARD.decode(&self.sig).ok()?;
        let arr: [u8; 64] = raw.as_slice().try_into().ok()?;
        Some(Signature::from_bytes(&arr))
    }

    /// Builds, hashes and signs an entry.
    pub(crate) fn build(
        seq: u64,
        ts: String,
        kind: &str,
        signer: &Signer,
        body: Value,
        prev: &str,
    ) -> Result<Entry> {
        let mut e = Entry::build_unsigned(seq, ts, kind, signer, body, prev)?;
        e.sign_with(signer);
        Ok(e)
    }

    /// Signs an entry whose `hash` is set (by [`Entry::build_unsigned`]).
    pub(crate) fn sign_with(&mut self, signer: &Signer) {
        if let Some(hash) = self.hash_bytes() {
            self.sig = STANDARD.encode(signer.sign(&signing_message(&hash)).to_bytes());
        }
    }

    /// Builds and hashes an entry, leaving `sig` empty: the hash chain needs only hashes,
    /// so a batch can be chained first and signed afterwards on every core.
    pub(crate) fn build_unsigned(
        seq: u64,
        ts: String,
        kind: &str,
        signer: &Signer,
        body: Value,
        prev: &str,
    ) -> Result<Entry> {
        let body = canonical_body(body)?;
        let mut entry = Entry {
            seq,
            ts,
            kind: kind.to_string(),
            actor: Actor {
                role: signer.role().to_string(),
                id: signer.id().to_string(),
                key: signer.fingerprint(),
            },
            body,
            prev: prev.to_string(),
            hash: String::new(),
            sig: String::new(),
        };
        entry.hash = hex::encode(canon::hash(&entry));
        Ok(entry)
    }
}

/// Parses a line strictly and returns it with the hash its content has (not yet compared
/// with the stored `hash`).
pub(crate) fn parse_checked(line: &str) -> Result<(Entry, [u8; 32])> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let mut de = serde_json::Deserializer::from_str(line);
    let entry = StrictEntry
        .deserialize(&mut de)
        .and_then(|e| de.end().map(|()| e))
        .map_err(|e| LedgerError::InvalidLine(e.to_string()))?;
    let canon = canonical(&entry);
    if canon.line != line.as_bytes() {
        return Err(LedgerError::InvalidLine(not_canonical(line, &canon.line)));
    }
    Ok((entry, canon.hash))
}

/// Names the first byte where a line departs from its canonical form.
fn not_canonical(line: &str, canon: &[u8]) -> String {
    let at = line
        .bytes()
        .zip(canon)
        .position(|(a, b)| a != *b)
        .unwrap_or(line.len().min(canon.len()));
    let snippet = |b: &[u8]| {
        let end = (at + 24).min(b.len());
        String::from_utf8_lossy(&b[at..end]).into_owned()
    };
    format!(
        "not in canonical form at column {}: found {:?} where the canonical line has {:?} \
         (no whitespace, body keys in RFC 8785 order, numbers and strings as RFC 8785 writes them)",
        at + 1,
        snippet(line.as_bytes()),
        snippet(canon)
    )
}

/// Refuses numbers the hash cannot hold exactly and gives non-integers the spelling they
/// will have when read back, so the entry a writer returns equals the one readers parse.
fn canonical_body(body: Value) -> Result<Value> {
    let has_float = check_numbers(&body, Path::Root("body")).map_err(LedgerError::InvalidEntry)?;
    if !has_float {
        return Ok(body);
    }
    let mut bytes = Vec::new();
    write_value(&body, &mut bytes);
    Ok(serde_json::from_slice(&bytes)?)
}

/// The bytes an entry signature covers: context string then the 32 raw hash bytes.
pub fn signing_message(hash: &[u8; 32]) -> [u8; 49] {
    let mut msg = [0u8; 49];
    msg[..17].copy_from_slice(SIG_CONTEXT);
    msg[17..].copy_from_slice(hash);
    msg
}

/// Lowercase-hex SHA-256 to bytes; uppercase is refused so a hash has one spelling.
pub fn decode_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Current time as RFC 3339 UTC with microseconds, e.g. 2026-11-25T08:13:26.123456Z.
pub fn now_ts() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_key;
    use serde_json::json;

    #[test]
    fn jcs_rfc8785_vectors() {
        // RFC 8785 section 3.2.2 example input and its canonical output.
        let input = r#"{
          "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
          "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
          "literals": [null, true, false]
        }"#;
        let v: Value = serde_json::from_str(input).unwrap();
        let out = serde_json_canonicalizer::to_string(&v).unwrap();
        assert_eq!(
            out,
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        // RFC 8785 section 3.2.3: keys sort by UTF-16 code units, not UTF-8 bytes.
        let v: Value = serde_json::from_str(
            r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        )
        .unwrap();
        let out = serde_json_canonicalizer::to_string(&v).unwrap();
        let keys: Vec<&str> = [
            "\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}",
        ]
        .to_vec();
        let mut pos = 0;
        for k in keys {
            let needle = serde_json::to_string(k).unwrap();
            let at = out[pos..].find(&needle).map(|i| i + pos);
            assert!(at.is_some(), "key {k:?} out of order in {out}");
            pos = at.unwrap_or(pos);
        }
    }

    #[test]
    fn hash_covers_all_but_hash_and_sig() {
        let s = Signer::new("operator", "ops", generate_key());
        let e = Entry::build(1, now_ts(), "x.y", &s, json!({"a": 1}), ZERO_HASH).unwrap();
        assert_eq!(e.hash_bytes().unwrap(), e.compute_hash().unwrap());
        let mut t = e.clone();
        t.sig = "AAAA".into();
        t.hash = "ff".into();
        assert_eq!(t.compute_hash().unwrap(), e.compute_hash().unwrap());
        t.body = json!({"a": 2});
        assert_ne!(t.compute_hash().unwrap(), e.compute_hash().unwrap());
        let sig = e.signature().unwrap();
        let msg = signing_message(&e.hash_bytes().unwrap());
        assert!(s.verifying_key().verify_strict(&msg, &sig).is_ok());
    }

    #[test]
    fn line_roundtrip_and_strictness() {
        let s = Signer::new("operator", "ops", generate_key());
        let e = Entry::build(
            7,
            now_ts(),
            "x.y",
            &s,
            json!({"n": 1.5, "s": "é"}),
            ZERO_HASH,
        )
        .unwrap();
        let line = e.to_line().unwrap();
        assert!(line.starts_with("{\"seq\":7,\"ts\":"));
        assert!(line.ends_with("}\n"));
        let back = Entry::parse_line(&line).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.compute_hash().unwrap(), e.hash_bytes().unwrap());
        let extra = line.trim_end().trim_end_matches('}').to_string() + ",\"x\":1}";
        assert!(Entry::parse_line(&extra).is_err());
        assert!(Entry::parse_line("").is_err());
        assert!(Entry::parse_line("{\"seq\":-1}").is_err());
    }

    #[test]
    fn timestamp_shape() {
        let ts = now_ts();
        assert_eq!(ts.len(), 27, "{ts}");
        assert!(ts.ends_with('Z'));
        assert!(
            time::OffsetDateTime::parse(&ts, &time::format_description::well_known::Rfc3339)
                .is_ok()
        );
    }
}
