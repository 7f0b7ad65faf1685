//! Signing a batch's entries on every core.
//!
//! Signing is most of an append's CPU time (`cargo bench -p gantry-ledger`), and the
//! signatures of a batch are independent once its entries are chained (the hash covers
//! everything but `sig`), so large batches are split over threads.

use crate::entry::Entry;
use crate::keys::Signer;

/// Below this many entries one thread signs them all: starting threads costs more.
const PARALLEL_FROM: usize = 64;

/// Fills in `sig` of every entry, each with its own signer.
pub(crate) fn sign_batch(entries: &mut [Entry], signers: &[&Signer]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if entries.len() < PARALLEL_FROM || threads == 1 {
        sign_all(entries, signers);
        return;
    }
    let per = entries.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut chunks = entries.chunks_mut(per).zip(signers.chunks(per));
        let mine = chunks.next();
        for (es, ss) in chunks {
            // A thread that cannot be started signs nothing; its share is done below.
            let _ = std::thread::Builder::new().spawn_scoped(scope, move || sign_all(es, ss));
        }
        if let Some((es, ss)) = mine {
            sign_all(es, ss);
        }
    });
    for (e, s) in entries.iter_mut().zip(signers) {
        if e.sig.is_empty() {
            e.sign_with(s);
        }
    }
}

fn sign_all(entries: &mut [Entry], signers: &[&Signer]) {
    for (e, s) in entries.iter_mut().zip(signers) {
        e.sign_with(s);
    }
}
