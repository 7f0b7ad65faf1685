//! Fixed-base scalar multiplication by a precomputed comb, in variable time.
//!
//! Verifying many signatures by the same key multiplies the same two points (the base point
//! `B` and the key's `−A`) over and over. A table of `m·2^(8j)·P` for every window `j` and
//! `m` in 1..=128 turns `[x]P` into at most 34 additions and no doublings, against the ~253
//! doublings of a double-base multiplication. Public data only (signatures, keys), so
//! variable time is fine; the result is the exact point, so a check built on it decides
//! exactly as one built on any other multiplication.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;

/// Bits per window: 8 measured fastest (w = 5..8 tried, `cargo bench -p gantry-ledger`);
/// a table is then 34 × 128 points, about 700 KB.
const W: usize = 8;
const HALF: usize = 1 << (W - 1);
/// Windows over 256 bits plus one for the carry out of the top window.
const WINDOWS: usize = 256 / W + 1;

pub(crate) struct Comb {
    /// `tables[j][m - 1] = m · 2^(W·j) · P`.
    tables: Vec<Vec<EdwardsPoint>>,
}

impl Comb {
    pub fn new(p: &EdwardsPoint) -> Comb {
        let mut tables = Vec::with_capacity(WINDOWS);
        let mut base = *p;
        for _ in 0..WINDOWS {
            let mut row = Vec::with_capacity(HALF);
            let mut acc = base;
            for _ in 0..HALF {
                row.push(acc);
                acc += &base;
            }
            for _ in 0..W {
                base = base + base;
            }
            tables.push(row);
        }
        Comb { tables }
    }

    /// `acc + [x]P`.
    pub fn mul_add(&self, x: &Scalar, mut acc: EdwardsPoint) -> EdwardsPoint {
        let bytes = x.as_bytes();
        let mut carry = 0i16;
        for (j, row) in self.tables.iter().enumerate() {
            // W = 8: window j is byte j; signed digits in [-128, 128) carry into the next.
            let v = bytes.get(j).map_or(0, |b| i16::from(*b));
            let mut d = v + carry;
            carry = 0;
            if d >= HALF as i16 {
                d -= 1 << W;
                carry = 1;
            }
            match d {
                0 => {}
                d if d > 0 => acc += &row[(d - 1) as usize],
                d => acc -= &row[(-d - 1) as usize],
            }
        }
        acc
    }

    pub fn mul(&self, x: &Scalar) -> EdwardsPoint {
        self.mul_add(x, EdwardsPoint::identity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use proptest::prelude::*;

    fn comb_b() -> &'static Comb {
        static C: std::sync::OnceLock<Comb> = std::sync::OnceLock::new();
        C.get_or_init(|| Comb::new(&ED25519_BASEPOINT_POINT))
    }

    #[test]
    fn edge_scalars() {
        let p = ED25519_BASEPOINT_POINT * Scalar::from(12345u64);
        let c = Comb::new(&p);
        let minus_one = -Scalar::ONE;
        let top = Scalar::from_bytes_mod_order([0x80; 32]);
        for x in [
            Scalar::ZERO,
            Scalar::ONE,
            minus_one,
            Scalar::from(127u8),
            Scalar::from(128u8),
            top,
        ] {
            assert_eq!(c.mul(&x), p * x, "{x:?}");
        }
    }

    proptest! {
        #[test]
        fn equals_dalek_multiplication(bytes in proptest::array::uniform32(any::<u8>())) {
            let x = Scalar::from_bytes_mod_order(bytes);
            prop_assert_eq!(comb_b().mul(&x), ED25519_BASEPOINT_POINT * x);
        }
    }
}
