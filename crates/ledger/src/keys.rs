//! Ed25519 keys, OpenSSH-style fingerprints, PKCS#8 PEM, and the signer identity.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{LedgerError, Result};

/// Role of the system (ledger-owning) key.
pub const SYSTEM_ROLE: &str = "gantry";
/// Agent id of the system key.
pub const SYSTEM_ID: &str = "gantry";

/// An actor able to sign ledger entries: role, agent id and private key.
#[derive(Clone)]
pub struct Signer {
    role: String,
    id: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    // The private key must never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("role", &self.role)
            .field("id", &self.id)
            .field("key", &self.fingerprint())
            .finish()
    }
}

impl Signer {
    pub fn new(role: impl Into<String>, id: impl Into<String>, key: SigningKey) -> Self {
        Signer {
            role: role.into(),
            id: id.into(),
            key,
        }
    }

    /// The system signer (role and id "gantry") that owns genesis, registrations and seals.
    pub fn system(key: SigningKey) -> Self {
        Signer::new(SYSTEM_ROLE, SYSTEM_ID, key)
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key.verifying_key())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }
}

/// "SHA256:" + unpadded base64 of SHA-256(the 32 raw public-key bytes). Written like an
/// OpenSSH fingerprint, but `ssh-keygen -l` hashes the SSH wire blob, so it prints another
/// value for the same key (FORMAT.md).
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("SHA256:{}", STANDARD_NO_PAD.encode(digest))
}

/// A fresh key from the operating system's randomness.
pub fn generate_key() -> SigningKey {
    let mut rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    SigningKey::generate(&mut rng)
}

/// PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") of a signing key.
///
/// Written as a v1 PrivateKeyInfo (RFC 8410, seed only), the form OpenSSL, Python's
/// cryptography and in-toto read; the v2 form with the public key embedded is refused by
/// several of them.
pub fn key_to_pem(key: &SigningKey) -> String {
    let v1 = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    // Encoding a well-formed in-memory key into a fixed-size DER structure has no failure
    // mode that input can trigger; an error here would be a bug in the pkcs8 crate.
    v1.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .expect("PKCS#8 encoding of an Ed25519 key cannot fail")
}

pub fn key_from_pem(pem: &str) -> Result<SigningKey> {
    SigningKey::from_pkcs8_pem(pem)
        .map_err(|e| LedgerError::Key(format!("cannot decode PKCS#8 PEM private key: {e}")))
}

/// Standard base64 of the 32 raw public-key bytes, as stored in registry entries.
pub fn public_key_to_base64(key: &VerifyingKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Parses a base64 raw public key, refusing small-order ("weak") keys: batch verification
/// is not strict, so such keys must never get into the registry.
pub fn public_key_from_base64(b64: &str) -> Result<VerifyingKey> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|e| LedgerError::Key(format!("public key is not base64: {e}")))?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| LedgerError::Key(format!("public key has {} bytes, want 32", bytes.len())))?;
    let key = VerifyingKey::from_bytes(&arr)
        .map_err(|e| LedgerError::Key(format!("invalid Ed25519 public key: {e}")))?;
    if key.is_weak() {
        return Err(LedgerError::Key("public key has small order".into()));
    }
    // RFC 8032 decoding refuses y >= p and a negative zero x; the decoder here does not, so
    // one key could otherwise be registered under several spellings.
    if key.to_edwards().compress().to_bytes() != arr {
        return Err(LedgerError::Key(
            "public key is not canonically encoded".into(),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_the_rfc8410_v1_form_other_tools_read() {
        // RFC 8410 section 10.3: 30 2e 02 01 00 30 05 06 03 2b 65 70 04 22 04 20 || seed.
        let key = generate_key();
        let pem = key_to_pem(&key);
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(b64).unwrap();
        assert_eq!(der.len(), 48);
        assert_eq!(hex::encode(&der[..16]), "302e020100300506032b657004220420");
        assert_eq!(&der[16..], key.to_bytes().as_slice());
        assert_eq!(key_from_pem(&pem).unwrap().to_bytes(), key.to_bytes());
    }

    #[test]
    fn fingerprint_hashes_the_raw_key() {
        // RFC 8032 test 1 public key; expected value computed independently with
        // `printf <raw key> | sha256sum | xxd -r -p | base64` minus padding.
        let pk = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
            .unwrap();
        let key = VerifyingKey::from_bytes(&pk.try_into().unwrap()).unwrap();
        let fp = fingerprint(&key);
        assert!(fp.starts_with("SHA256:"));
        assert_eq!(fp.len(), 7 + 43);
        assert!(!fp.ends_with('='));
        let raw = STANDARD_NO_PAD.decode(&fp[7..]).unwrap();
        assert_eq!(raw, Sha256::digest(key.as_bytes()).to_vec());
    }

    #[test]
    fn pem_roundtrip() {
        let key = generate_key();
        let pem = key_to_pem(&key);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = key_from_pem(&pem).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        assert!(
            key_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err()
        );
    }

    #[test]
    fn sign_verify_roundtrip() {
        let s = Signer::new("operator", "ops", generate_key());
        let sig = s.sign(b"hello");
        assert!(s.verifying_key().verify_strict(b"hello", &sig).is_ok());
        assert!(s.verifying_key().verify_strict(b"hellp", &sig).is_err());
        assert!(!format!("{s:?}").contains(&hex::encode(s.signing_key().to_bytes())));
    }

    #[test]
    fn weak_public_keys_are_rejected() {
        // The identity point encoding is small order.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(public_key_from_base64(&STANDARD.encode(id)).is_err());
        // p + y (little-endian: 0xed + y, 0xff.., 0x7f) spells y non-canonically for y < 19;
        // the decoder accepts some of them as points. RFC 8032 refuses them all.
        let mut found = 0;
        for y in 0u8..19 {
            let mut enc = [0xffu8; 32];
            enc[0] = 0xed + y;
            enc[31] = 0x7f;
            if VerifyingKey::from_bytes(&enc).is_ok_and(|k| !k.is_weak()) {
                found += 1;
            }
            assert!(
                public_key_from_base64(&STANDARD.encode(enc)).is_err(),
                "y = p + {y}"
            );
        }
        assert!(
            found > 0,
            "no non-canonical encoding decodes: the check is untested"
        );
        let k = generate_key().verifying_key();
        assert_eq!(
            public_key_from_base64(&public_key_to_base64(&k)).unwrap(),
            k
        );
    }
}
