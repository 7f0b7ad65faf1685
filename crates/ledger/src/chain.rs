//! Running state of a chain while reading it front to back: head, key registry, Merkle
//! frontier. Shared by the writer (to extend the chain) and by verification.

use crate::entry::{Entry, ZERO_HASH};
use crate::merkle::{Frontier, Hash, leaf_hash};
use crate::registry::Registry;

#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// Seq of the last entry, 0 before genesis.
    pub seq: u64,
    /// Hash (hex) of the last entry; zeros before genesis.
    pub last_hash: String,
    pub registry: Registry,
    pub frontier: Frontier,
}

impl Chain {
    pub fn new() -> Self {
        Chain {
            seq: 0,
            last_hash: ZERO_HASH.to_string(),
            registry: Registry::new(),
            frontier: Frontier::new(),
        }
    }

    /// Makes `e` (whose raw hash is `hash`) the new head and a new Merkle leaf.
    pub fn push(&mut self, e: &Entry, hash: &Hash) {
        self.seq = e.seq;
        self.last_hash.clone_from(&e.hash);
        self.frontier.push(leaf_hash(hash));
    }

    pub fn origin(&self) -> Option<&str> {
        self.registry.origin.as_deref()
    }
}
