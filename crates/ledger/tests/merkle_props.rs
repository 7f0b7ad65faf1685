//! Property tests: RFC 6962 proofs verify for any tree size and index, and any single
//! alteration makes them fail.

use gantry_ledger::merkle::{
    Frontier, Hash, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};
use proptest::prelude::*;

fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u32).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

fn flip(h: &mut Hash, bit: u8) {
    h[(bit / 8) as usize % 32] ^= 1 << (bit % 8);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn inclusion_verifies_and_detects_alteration(n in 1usize..=300, idx_seed: u64, pick: usize, bit: u8) {
        let ls = leaves(n);
        let idx = idx_seed % n as u64;
        let r = root(&ls);
        let proof = inclusion_proof(&ls, idx).unwrap();
        prop_assert!(verify_inclusion(idx, n as u64, &ls[idx as usize], &proof, &r));

        if !proof.is_empty() {
            let mut bad = proof.clone();
            let i = pick % bad.len();
            flip(&mut bad[i], bit);
            prop_assert!(!verify_inclusion(idx, n as u64, &ls[idx as usize], &bad, &r));
        }
        let mut bad_root = r;
        flip(&mut bad_root, bit);
        prop_assert!(!verify_inclusion(idx, n as u64, &ls[idx as usize], &proof, &bad_root));
        let mut bad_leaf = ls[idx as usize];
        flip(&mut bad_leaf, bit);
        prop_assert!(!verify_inclusion(idx, n as u64, &bad_leaf, &proof, &r));
        prop_assert!(!verify_inclusion(n as u64, n as u64, &ls[idx as usize], &proof, &r));
    }

    #[test]
    fn consistency_verifies_and_detects_alteration(n in 1usize..=300, m_seed: usize, pick: usize, bit: u8) {
        let ls = leaves(n);
        let m = 1 + m_seed % n;
        let (old_root, new_root) = (root(&ls[..m]), root(&ls));
        let proof = consistency_proof(&ls, m as u64).unwrap();
        prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof));
        if m < n {
            prop_assert!(!proof.is_empty());
            let mut bad = proof.clone();
            let i = pick % bad.len();
            flip(&mut bad[i], bit);
            prop_assert!(!verify_consistency(m as u64, n as u64, &old_root, &new_root, &bad));
            let mut r = old_root;
            flip(&mut r, bit);
            prop_assert!(!verify_consistency(m as u64, n as u64, &r, &new_root, &proof));
            let mut r = new_root;
            flip(&mut r, bit);
            prop_assert!(!verify_consistency(m as u64, n as u64, &old_root, &r, &proof));
            prop_assert!(!verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof[..proof.len() - 1]));
        }
    }

    #[test]
    fn frontier_root_equals_batch_root(n in 0usize..=300) {
        let ls = leaves(n);
        let mut f = Frontier::new();
        for l in &ls { f.push(*l); }
        prop_assert_eq!(f.size(), n as u64);
        prop_assert_eq!(f.root(), root(&ls));
    }
}
