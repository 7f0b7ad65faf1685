//! Checking many entry signatures, each by itself, with the strict rule of `sig.rs`.
//!
//! The rule (FORMAT.md *Signatures*): `s < ℓ`; neither `A` nor `R` is a small-order
//! encoding; and the canonical encoding of `[s]B − [k]A` is exactly `R`. This computes that
//! point as the rule says, only faster when the same key signs many entries:
//! - `A`'s small-order test and decompression are done once per key;
//! - a key seen often gets a precomputed comb (`comb.rs`) for `−A`, and `B` has one;
//! - the points of a chunk are encoded with one shared field inversion.
//!
//! Nothing here combines signatures into one equation, so no signature's verdict depends on
//! another's, on chunking or on randomness.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

use crate::comb::Comb;
use crate::sig::SMALL_ORDER_ENCODINGS;

/// Signatures by one key before its comb is built: building it costs about as much as 40
/// checks, and a ledger's keys mostly sign many entries or very few.
const COMB_AFTER: u32 = 128;
/// Combs kept per checker (about 700 KB each); further keys use the double-base path.
const MAX_COMBS: usize = 16;

fn comb_b() -> &'static Comb {
    static B: OnceLock<Comb> = OnceLock::new();
    B.get_or_init(|| Comb::new(&ED25519_BASEPOINT_POINT))
}

struct KeyState {
    weak: bool,
    neg_a: EdwardsPoint,
    uses: u32,
    comb: Option<Arc<Comb>>,
}

/// Caches per-key work across calls; one per thread.
#[derive(Default)]
pub(crate) struct SigChecker {
    keys: HashMap<[u8; 32], KeyState>,
    combs: usize,
}

impl SigChecker {
    /// For each `(key, message, signature)`, whether it verifies under the strict rule.
    pub fn check(&mut self, items: &[(&VerifyingKey, &[u8], &Signature)]) -> Vec<bool> {
        let mut ok = vec![false; items.len()];
        let mut points = Vec::with_capacity(items.len());
        let mut which = Vec::with_capacity(items.len());
        for (i, (key, msg, sig)) in items.iter().enumerate() {
            if let Some(p) = self.expected_r(key, msg, sig) {
                points.push(p);
                which.push(i);
            }
        }
        let encoded = EdwardsPoint::compress_batch_alloc(&points);
        for (i, enc) in which.into_iter().zip(encoded) {
            ok[i] = enc.as_bytes() == items[i].2.r_bytes();
        }
        ok
    }

    /// `[s]B − [k]A`, or `None` when the signature fails before that (s, R or A).
    fn expected_r(
        &mut self,
        key: &VerifyingKey,
        msg: &[u8],
        sig: &Signature,
    ) -> Option<EdwardsPoint> {
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes()))?;
        if SMALL_ORDER_ENCODINGS.contains(sig.r_bytes()) {
            return None;
        }
        let state = self.key_state(key);
        if state.weak {
            return None;
        }
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(sig.r_bytes())
                .chain_update(key.as_bytes())
                .chain_update(msg)
                .finalize()
                .into(),
        );
        Some(match &state.comb {
            Some(comb) => comb.mul_add(&k, comb_b().mul(&s)),
            None => EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &state.neg_a, &s),
        })
    }

    fn key_state(&mut self, key: &VerifyingKey) -> &KeyState {
        let room = self.combs < MAX_COMBS;
        let state = self
            .keys
            .entry(*key.as_bytes())
            .or_insert_with(|| KeyState {
                weak: key.is_weak(),
                neg_a: -key.to_edwards(),
                uses: 0,
                comb: None,
            });
        state.uses = state.uses.saturating_add(1);
        if state.comb.is_none() && !state.weak && room && state.uses >= COMB_AFTER {
            state.comb = Some(Arc::new(Comb::new(&state.neg_a)));
            self.combs += 1;
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sig::tests::{crafted_cases, sign_with_torsion};
    use ed25519_dalek::{Signer as _, SigningKey};

    /// Every case through both paths (comb and double-base) agrees with `verify_strict`.
    fn agree_all(cases: &[(VerifyingKey, Vec<u8>, Signature)]) {
        let want: Vec<bool> = cases
            .iter()
            .map(|(k, m, s)| k.verify_strict(m, s).is_ok())
            .collect();
        let items: Vec<_> = cases.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
        let mut cold = SigChecker::default();
        assert_eq!(cold.check(&items), want, "double-base path");
        let mut warm = SigChecker::default();
        for (k, _, _) in cases {
            for _ in 0..COMB_AFTER {
                warm.key_state(k);
            }
        }
        assert!(warm.combs > 0);
        assert_eq!(warm.check(&items), want, "comb path");
        for (item, w) in items.iter().zip(&want) {
            assert_eq!(warm.check(std::slice::from_ref(item)), vec![*w], "alone");
        }
    }

    #[test]
    fn agrees_with_verify_strict_on_honest_altered_and_crafted_signatures() {
        let mut cases = crafted_cases();
        for i in 0..40u8 {
            let sk = SigningKey::from_bytes(&[i % 3; 32]);
            let msg = vec![i, 1, 2, 3];
            let sig = sk.sign(&msg);
            cases.push((sk.verifying_key(), msg.clone(), sig));
            let mut bytes = sig.to_bytes();
            bytes[usize::from(i) % 64] ^= 1 << (i % 8);
            cases.push((
                sk.verifying_key(),
                msg.clone(),
                Signature::from_bytes(&bytes),
            ));
            cases.push((sk.verifying_key(), b"other".to_vec(), sig));
        }
        assert!(cases.iter().any(|(k, m, s)| k.verify_strict(m, s).is_ok()));
        agree_all(&cases);
    }

    #[test]
    fn a_bad_signature_does_not_change_its_neighbours_verdicts() {
        let sk = SigningKey::from_bytes(&[5; 32]);
        let key = sk.verifying_key();
        let msgs: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i]).collect();
        let mut sigs: Vec<Signature> = msgs.iter().map(|m| sk.sign(m)).collect();
        let r = curve25519_dalek::scalar::Scalar::from(77u64);
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[3];
        sigs[4] = sign_with_torsion(&sk, &msgs[4], r, torsion);
        let items: Vec<_> = msgs
            .iter()
            .zip(&sigs)
            .map(|(m, s)| (&key, m.as_slice(), s))
            .collect();
        let got = SigChecker::default().check(&items);
        let want: Vec<bool> = (0..10).map(|i| i != 4).collect();
        assert_eq!(got, want);
    }
}
