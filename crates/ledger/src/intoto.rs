//! Export of entries as in-toto Statement v1 in DSSE envelopes, one JSON line each.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::entry::Entry;
use crate::error::{LedgerError, Result};
use crate::keys::{Signer, fingerprint};

pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://gantry.dev/ledger-entry/v1";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The in-toto Statement for one entry.
pub fn statement(entry: &Entry) -> Result<Value> {
    Ok(json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": format!("ledger#{}", entry.seq), "digest": {"sha256": entry.hash}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": serde_json::to_value(entry)?,
    }))
}

pub fn envelope(entry: &Entry, signer: &Signer) -> Result<Envelope> {
    let payload = serde_json::to_vec(&statement(entry)?)?;
    let sig = signer.sign(&pae(PAYLOAD_TYPE, &payload));
    Ok(Envelope {
        payload_type: PAYLOAD_TYPE.to_string(),
        payload: STANDARD.encode(&payload),
        signatures: vec![EnvelopeSignature {
            keyid: signer.fingerprint(),
            sig: STANDARD.encode(sig.to_bytes()),
        }],
    })
}

/// Writes one DSSE envelope per entry, one per line.
pub fn export(entries: &[Entry], signer: &Signer, mut out: impl Write) -> Result<()> {
    for e in entries {
        let mut line = serde_json::to_vec(&envelope(e, signer)?)?;
        line.push(b'\n');
        out.write_all(&line).map_err(|source| LedgerError::Io {
            path: "<export>".into(),
            source,
        })?;
    }
    Ok(())
}

/// Verifies an envelope line signed by `key` and returns its Statement.
pub fn verify_envelope(line: &str, key: &VerifyingKey) -> Result<Value> {
    let env: Envelope = serde_json::from_str(line.trim_end())
        .map_err(|e| LedgerError::Envelope(format!("not a DSSE envelope: {e}")))?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(LedgerError::Envelope(format!(
            "payloadType {:?}",
            env.payload_type
        )));
    }
    let payload = STANDARD
        .decode(&env.payload)
        .map_err(|_| LedgerError::Envelope("payload is not base64".into()))?;
    let fp = fingerprint(key);
    let sig = env
        .signatures
        .iter()
        .find(|s| s.keyid == fp)
        .ok_or_else(|| LedgerError::Envelope(format!("no signature with keyid {fp}")))?;
    let raw = STANDARD
        .decode(&sig.sig)
        .map_err(|_| LedgerError::Envelope("sig is not base64".into()))?;
    let arr: [u8; 64] = raw
        .as_slice()
        .try_into()
        .map_err(|_| LedgerError::Envelope("sig is not 64 bytes".into()))?;
    key.verify_strict(
        &pae(&env.payload_type, &payload),
        &Signature::from_bytes(&arr),
    )
    .map_err(|_| LedgerError::Envelope("signature does not verify".into()))?;
    let stmt: Value = serde_json::from_slice(&payload)
        .map_err(|e| LedgerError::Envelope(format!("payload is not JSON: {e}")))?;
    if stmt.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE) {
        return Err(LedgerError::Envelope(
            "payload is not an in-toto Statement v1".into(),
        ));
    }
    Ok(stmt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_dsse_spec_example() {
        // From the DSSE protocol spec: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
