//! Strict Ed25519 verification, the one rule every ledger signature is judged by.
//!
//! `verify_strict` (and RFC 8032 §5.1.7, and OpenSSL) accept a signature only if encoding
//! `[s]B − [k]A` gives exactly the bytes of `R`; they also refuse small-order `R` and `A`.
//! Batch verification is cheaper but checks a random combination of the equations, so an
//! `R` with a torsion component passes or fails by the luck of the coefficients.
//!
//! [`verify_entry_sig`] decides exactly as `verify_strict` does, a little faster: the
//! cofactorless equation is `verify`'s, whose comparison of encodings already implies that
//! `R` is canonical and decodes to `[s]B − [k]A`; such an `R` has small order only if it
//! is one of the eight canonical encodings of the 8-torsion points, so it is compared with
//! those bytes instead of being decompressed and multiplied again.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// Canonical encodings of the eight points of order dividing 8 (RFC 8032 curve); a strict
/// verifier refuses them as `R` and as public keys.
pub const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    hex32("0100000000000000000000000000000000000000000000000000000000000000"),
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    hex32("0000000000000000000000000000000000000000000000000000000000000000"),
    hex32("0000000000000000000000000000000000000000000000000000000000000080"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
];

const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lowercase hex"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Verifies `sig` over `msg` by `key` with `verify_strict` semantics.
pub fn verify_entry_sig(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> bool {
    !key.is_weak() && !SMALL_ORDER_ENCODINGS.contains(sig.r_bytes()) && key.verify(msg, sig).is_ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;
    use ed25519_dalek::{Signer as _, SigningKey};
    use sha2::{Digest, Sha512};

    fn agree(key: &VerifyingKey, msg: &[u8], sig: &Signature) -> bool {
        let strict = key.verify_strict(msg, sig).is_ok();
        assert_eq!(verify_entry_sig(key, msg, sig), strict, "sig {sig:?}");
        strict
    }

    /// Signs with nonce point `R = [r]B + t` for a chosen torsion point `t`, as only the
    /// key holder could: cofactored verification accepts it, strict verification does not.
    pub(crate) fn sign_with_torsion(
        sk: &SigningKey,
        msg: &[u8],
        r: Scalar,
        t: EdwardsPoint,
    ) -> Signature {
        let h = Sha512::digest(sk.to_bytes());
        let mut a_bytes = [0u8; 32];
        a_bytes.copy_from_slice(&h[..32]);
        a_bytes[0] &= 248;
        a_bytes[31] &= 127;
        a_bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a_bytes);
        let big_r = (ED25519_BASEPOINT_POINT * r + t).compress();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(big_r.as_bytes())
                .chain_update(sk.verifying_key().as_bytes())
                .chain_update(msg)
                .finalize()
                .into(),
        );
        let s = r + k * a;
        Signature::from_components(big_r.to_bytes(), s.to_bytes())
    }

    fn challenge(r: &[u8; 32], key: &[u8; 32], msg: &[u8]) -> Scalar {
        Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r)
                .chain_update(key)
                .chain_update(msg)
                .finalize()
                .into(),
        )
    }

    /// For every small-order key `A`: a signature satisfying the cofactorless equation
    /// `[s]B = R + [k]A` exactly (found by guessing `k mod 8`, since `[k]A` depends on nothing
    /// else), which only the small-order rule refuses.
    fn weak_key_cases(msg: &[u8]) -> Vec<(VerifyingKey, Vec<u8>, Signature)> {
        let mut out = Vec::new();
        for enc in SMALL_ORDER_ENCODINGS {
            let Ok(key) = VerifyingKey::from_bytes(&enc) else {
                continue;
            };
            let a = key.to_edwards();
            for seed in 1u64.. {
                let s = Scalar::from(seed);
                let guess = seed % 8;
                let r = (ED25519_BASEPOINT_POINT * s - a * Scalar::from(guess)).compress();
                let k = challenge(r.as_bytes(), key.as_bytes(), msg);
                if ED25519_BASEPOINT_POINT * s - a * k == r.decompress().unwrap() {
                    let sig = Signature::from_components(r.to_bytes(), s.to_bytes());
                    assert!(key.verify(msg, &sig).is_ok(), "cofactorless equation holds");
                    out.push((key, msg.to_vec(), sig));
                    break;
                }
            }
        }
        out
    }

    /// Signatures a lax verifier accepts and the strict rule refuses: torsion in `R`,
    /// small-order `R`, small-order `A`, non-canonical `s` (s + ℓ), and non-canonical
    /// encodings of `R`; plus the honest signature they derive from.
    pub(crate) fn crafted_cases() -> Vec<(VerifyingKey, Vec<u8>, Signature)> {
        let sk = SigningKey::from_bytes(&[7; 32]);
        let key = sk.verifying_key();
        let msg = b"gantry".to_vec();
        let mut out = Vec::new();
        for (i, t) in EIGHT_TORSION.iter().enumerate() {
            let sig = sign_with_torsion(&sk, &msg, Scalar::from(1000 + i as u64), *t);
            out.push((key, msg.clone(), sig));
        }
        // R = identity, s = k·a: [s]B − [k]A is the identity, encoded as R.
        out.push((
            key,
            msg.clone(),
            sign_with_torsion(&sk, &msg, Scalar::ZERO, EdwardsPoint::default()),
        ));
        out.extend(weak_key_cases(&msg));
        // s + ℓ: the same value mod ℓ, another spelling.
        let honest = sk.sign(&msg);
        let ell = Scalar::ZERO - Scalar::ONE;
        let mut s_plus_l = [0u8; 32];
        let (s, l) = (honest.s_bytes(), ell.as_bytes());
        let mut carry = 1u16; // ℓ = (ℓ − 1) + 1
        for i in 0..32 {
            let v = u16::from(s[i]) + u16::from(l[i]) + carry;
            s_plus_l[i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0);
        out.push((
            key,
            msg.clone(),
            Signature::from_components(*honest.r_bytes(), s_plus_l),
        ));
        // Non-canonical spellings of small-order points as R, with s = k·a so that the
        // equation holds for the point they decode to.
        let mut noncanonical = Vec::new();
        let mut one_neg = SMALL_ORDER_ENCODINGS[0];
        one_neg[31] |= 0x80; // x = 0 with the sign bit set
        noncanonical.push(one_neg);
        let mut p_plus_1 = [0xffu8; 32]; // y = p + 1 ≡ 1
        p_plus_1[0] = 0xee;
        p_plus_1[31] = 0x7f;
        noncanonical.push(p_plus_1);
        let h = Sha512::digest(sk.to_bytes());
        let mut a_bytes = [0u8; 32];
        a_bytes.copy_from_slice(&h[..32]);
        a_bytes[0] &= 248;
        a_bytes[31] &= 127;
        a_bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a_bytes);
        for r in noncanonical {
            let k = challenge(&r, key.as_bytes(), &msg);
            out.push((
                key,
                msg.clone(),
                Signature::from_components(r, (k * a).to_bytes()),
            ));
        }
        out.push((key, msg.clone(), honest));
        out
    }

    #[test]
    fn crafted_cases_agree_with_verify_strict() {
        let cases = crafted_cases();
        let accepted: Vec<bool> = cases.iter().map(|(k, m, s)| agree(k, m, s)).collect();
        // Only the honest signature and the torsion-free nonce (t = identity) pass.
        assert_eq!(accepted.iter().filter(|a| **a).count(), 2, "{accepted:?}");
        assert!(accepted[0] && *accepted.last().unwrap());
        // Each refused case is one a lax check would accept.
        for (k, m, s) in &cases {
            let cofactorless = k.verify(m, s).is_ok();
            let reduced = Scalar::from_bytes_mod_order(*s.s_bytes());
            let lax = cofactorless
                || reduced.to_bytes() != *s.s_bytes()
                || !SMALL_ORDER_ENCODINGS.contains(s.r_bytes());
            assert!(lax);
        }
    }

    #[test]
    fn constants_are_the_eight_torsion_points() {
        let mut mine = SMALL_ORDER_ENCODINGS.to_vec();
        let mut theirs: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|p| p.compress().to_bytes())
            .collect();
        mine.sort();
        theirs.sort();
        assert_eq!(mine, theirs);
    }

    #[test]
    fn agrees_with_verify_strict_on_honest_and_altered_signatures() {
        for i in 0..64u8 {
            let sk = SigningKey::from_bytes(&[i; 32]);
            let key = sk.verifying_key();
            let msg = [i, 1, 2, 3];
            let sig = sk.sign(&msg);
            assert!(agree(&key, &msg, &sig));
            let mut bytes = sig.to_bytes();
            bytes[usize::from(i) % 64] ^= 1 << (i % 8);
            assert!(!agree(&key, &msg, &Signature::from_bytes(&bytes)));
            assert!(!agree(&key, b"other", &sig));
        }
    }

    #[test]
    fn torsion_in_r_is_refused_although_cofactored_checks_pass() {
        let sk = SigningKey::from_bytes(&[7; 32]);
        let key = sk.verifying_key();
        let msg = b"gantry";
        for (i, t) in EIGHT_TORSION.iter().enumerate() {
            let r = Scalar::from(1000u64 + i as u64);
            let sig = sign_with_torsion(&sk, msg, r, *t);
            // The cofactored equation [8]([s]B - R - [k]A) = 0 holds for every t.
            let big_r = curve25519_dalek::edwards::CompressedEdwardsY(*sig.r_bytes())
                .decompress()
                .unwrap();
            let s = Scalar::from_canonical_bytes(*sig.s_bytes()).unwrap();
            let k = Scalar::from_bytes_mod_order_wide(
                &Sha512::new()
                    .chain_update(sig.r_bytes())
                    .chain_update(key.as_bytes())
                    .chain_update(msg)
                    .finalize()
                    .into(),
            );
            let lhs = ED25519_BASEPOINT_POINT * s - big_r - key.to_edwards() * k;
            assert!(lhs.mul_by_cofactor() == EdwardsPoint::default());
            // Only the torsion-free nonce (t = identity) is a valid strict signature.
            assert_eq!(agree(&key, msg, &sig), i == 0, "torsion point {i}");
        }
    }

    #[test]
    fn small_order_r_and_keys_are_refused() {
        // s = k·a with R = identity satisfies the equation [s]B = R + [k]A exactly.
        let sk = SigningKey::from_bytes(&[9; 32]);
        let key = sk.verifying_key();
        let msg = b"m";
        let sig = sign_with_torsion(&sk, msg, Scalar::ZERO, EdwardsPoint::default());
        assert_eq!(sig.r_bytes(), &SMALL_ORDER_ENCODINGS[0]);
        assert!(key.verify(msg, &sig).is_ok(), "cofactorless equation holds");
        assert!(!agree(&key, msg, &sig));
        // A small-order key: with A = identity, R = [s]B satisfies the equation for any k.
        let weak = VerifyingKey::from_bytes(&SMALL_ORDER_ENCODINGS[0]).unwrap();
        let s = Scalar::from(5u64);
        let sig = Signature::from_components(
            (ED25519_BASEPOINT_POINT * s).compress().to_bytes(),
            s.to_bytes(),
        );
        assert!(
            weak.verify(msg, &sig).is_ok(),
            "cofactorless equation holds"
        );
        assert!(!agree(&weak, msg, &sig));
        for enc in SMALL_ORDER_ENCODINGS {
            if let Ok(weak) = VerifyingKey::from_bytes(&enc) {
                let sig = Signature::from_components(enc, [0; 32]);
                assert!(!agree(&weak, msg, &sig));
            }
        }
    }
}
