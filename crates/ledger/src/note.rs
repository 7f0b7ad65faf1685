//! C2SP signed notes and tlog checkpoints (https://c2sp.org/signed-note,
//! https://c2sp.org/tlog-checkpoint) with Ed25519 keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{LedgerError, Result};
use crate::merkle::Hash;

/// Signature algorithm byte for Ed25519 in the signed-note key id and verifier key.
const ALG_ED25519: u8 = 0x01;
const SIG_PREFIX: &str = "\u{2014} ";

/// A checkpoint's signed body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

/// First 4 bytes of SHA-256(name || '\n' || 0x01 || public key).
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// C2SP verifier key: `<name>+<hex key id>+<base64(0x01 || public key)>`.
pub fn note_verifier_key(origin: &str, key: &VerifyingKey) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(ALG_ED25519);
    raw.extend_from_slice(key.as_bytes());
    format!(
        "{origin}+{}+{}",
        hex::encode(key_id(origin, key)),
        STANDARD.encode(raw)
    )
}

/// Parses a verifier key string, checking that its key id matches its name and key.
pub fn parse_verifier_key(vkey: &str) -> Result<(String, VerifyingKey)> {
    let bad = |m: &str| LedgerError::Note(format!("verifier key {vkey:?}: {m}"));
    // Names cannot contain '+', but base64 can: split from the left.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("want <name>+<hex key id>+<base64 key>"));
    };
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('+') {
        return Err(bad("invalid key name"));
    }
    let raw = STANDARD.decode(b64).map_err(|_| bad("key is not base64"))?;
    if raw.len() != 33 || raw[0] != ALG_ED25519 {
        return Err(bad("not an Ed25519 key (want 0x01 followed by 32 bytes)"));
    }
    let mut pk = [0u8; 32];
    pk.copy_from_slice(&raw[1..]);
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| bad("invalid Ed25519 public key"))?;
    if hex::encode(key_id(name, &key)) != id_hex {
        return Err(bad("key id does not match name and key"));
    }
    Ok((name.to_string(), key))
}

/// The signed text of a checkpoint: origin, size and base64 root, each ending in '\n'.
pub fn checkpoint_text(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", STANDARD.encode(root))
}

/// A checkpoint signed by `key` under the key name `origin`.
pub fn sign_checkpoint(origin: &str, size: u64, root: &Hash, key: &SigningKey) -> String {
    use ed25519_dalek::Signer as _;
    let text = checkpoint_text(origin, size, root);
    let sig = key.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(68);
    blob.extend_from_slice(&key_id(origin, &key.verifying_key()));
    blob.extend_from_slice(&sig.to_bytes());
    format!("{text}\n{SIG_PREFIX}{origin} {}\n", STANDARD.encode(blob))
}

/// Splits a note into its text (with final '\n') and its signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<&str>)> {
    let at = note
        .find("\n\n")
        .ok_or_else(|| LedgerError::Note("no blank line before signatures".into()))?;
    let text = &note[..=at];
    let sigs = &note[at + 2..];
    if !sigs.ends_with('\n') {
        return Err(LedgerError::Note(
            "signature block does not end in newline".into(),
        ));
    }
    let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
    if lines.iter().any(|l| !l.starts_with(SIG_PREFIX)) {
        return Err(LedgerError::Note("malformed signature line".into()));
    }
    Ok((text, lines))
}

/// Reads origin, size and root from a checkpoint without checking any signature.
pub fn parse_checkpoint_unverified(note: &str) -> Result<Checkpoint> {
    let (text, _) = split_note(note)?;
    parse_text(text)
}

fn parse_text(text: &str) -> Result<Checkpoint> {
    let bad = |m: &str| LedgerError::Note(format!("checkpoint: {m}"));
    let mut lines = text.split('\n');
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad("missing origin"))?;
    let size_s = lines.next().ok_or_else(|| bad("missing size"))?;
    if size_s.is_empty()
        || !size_s.bytes().all(|b| b.is_ascii_digit())
        || (size_s.len() > 1 && size_s.starts_with('0'))
    {
        return Err(bad("size is not a decimal number"));
    }
    let size: u64 = size_s.parse().map_err(|_| bad("size out of range"))?;
    let root_b64 = lines.next().ok_or_else(|| bad("missing root"))?;
    let raw = STANDARD
        .decode(root_b64)
        .map_err(|_| bad("root is not base64"))?;
    let root: Hash = raw
        .as_slice()
        .try_into()
        .map_err(|_| bad("root is not 32 bytes"))?;
    Ok(Checkpoint {
        origin: origin.to_string(),
        size,
        root,
    })
}

/// Verifies a checkpoint's signature by the named key and returns its contents. The origin
/// must equal the key name, as gantry names its checkpoint key after the log origin.
pub fn open_checkpoint(note: &str, name: &str, key: &VerifyingKey) -> Result<Checkpoint> {
    let (text, sig_lines) = split_note(note)?;
    let want_id = key_id(name, key);
    let mut verified = false;
    for line in sig_lines {
        let rest = &line[SIG_PREFIX.len()..];
        let Some((sig_name, b64)) = rest.split_once(' ') else {
            return Err(LedgerError::Note("malformed signature line".into()));
        };
        if sig_name != name {
            continue;
        }
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| LedgerError::Note("signature is not base64".into()))?;
        if blob.len() != 68 || blob[..4] != want_id {
            continue;
        }
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&blob[4..]);
        key.verify_strict(text.as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| LedgerError::Note(format!("signature by {name} does not verify")))?;
        verified = true;
    }
    if !verified {
        return Err(LedgerError::Note(format!("no signature by key {name}")));
    }
    let cp = parse_text(text)?;
    if cp.origin != name {
        return Err(LedgerError::Note(format!(
            "checkpoint origin {:?} differs from key name {name:?}",
            cp.origin
        )));
    }
    Ok(cp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_key;

    #[test]
    fn checkpoint_format_and_roundtrip() {
        let sk = generate_key();
        let root = [7u8; 32];
        let note = sign_checkpoint("example.com/log", 42, &root, &sk);
        let lines: Vec<&str> = note.split('\n').collect();
        assert_eq!(lines[0], "example.com/log");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], STANDARD.encode(root));
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} example.com/log "));
        assert_eq!(lines[5], "");
        let blob = STANDARD
            .decode(lines[4].rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(blob.len(), 68);
        let vk = sk.verifying_key();
        assert_eq!(blob[..4], key_id("example.com/log", &vk));

        let cp = open_checkpoint(&note, "example.com/log", &vk).unwrap();
        assert_eq!((cp.size, cp.root), (42, root));
        let tampered = note.replacen("\n42\n", "\n43\n", 1);
        assert!(open_checkpoint(&tampered, "example.com/log", &vk).is_err());
        let other = generate_key().verifying_key();
        assert!(open_checkpoint(&note, "example.com/log", &other).is_err());
    }

    #[test]
    fn verifier_key_roundtrip() {
        for _ in 0..20 {
            // Base64 keys often contain '+', the field separator.
            let vk = generate_key().verifying_key();
            let s = note_verifier_key("gantry", &vk);
            assert_eq!(parse_verifier_key(&s).unwrap().1, vk, "{s}");
        }
        let vk = generate_key().verifying_key();
        let s = note_verifier_key("gantry", &vk);
        let parts: Vec<&str> = s.split('+').collect();
        assert_eq!(parts[0], "gantry");
        assert_eq!(parts[1].len(), 8);
        let (name, back) = parse_verifier_key(&s).unwrap();
        assert_eq!((name.as_str(), back), ("gantry", vk));
        let wrong_id = format!("gantry+00000000+{}", parts[2]);
        assert!(parse_verifier_key(&wrong_id).is_err());
        assert!(parse_verifier_key("gantry").is_err());
        assert!(parse_verifier_key("other+".to_string().as_str()).is_err());
    }

    #[test]
    fn key_id_matches_go_sumdb_vector() {
        // golang.org/x/mod/sumdb/note example key "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        let (name, key) = parse_verifier_key(
            "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        )
        .unwrap();
        assert_eq!(name, "PeterNeumann");
        assert_eq!(hex::encode(key_id(&name, &key)), "c74f20a3");
    }
}
