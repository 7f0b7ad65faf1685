//! Connections in use per backend, shared by every worker thread: a request waits in a
//! bounded queue for one of the backend's slots rather than opening a connection per
//! concurrent request, which under a burst overflows the application's accept backlog.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of each backend; a backend's size is fixed by the first request to it.
#[derive(Default)]
pub(crate) struct BackendLimits {
    slots: Mutex<HashMap<SocketAddr, Arc<Semaphore>>>,
}

/// A held slot: one connection to the backend in use, until dropped.
pub(crate) type Slot = OwnedSemaphorePermit;

impl BackendLimits {
    fn semaphore(&self, addr: SocketAddr, size: usize) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Backends gone and idle would otherwise accumulate over many deploys.
        if slots.len() > 1024 {
            slots.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() == 0);
        }
        Arc::clone(
            slots
                .entry(addr)
                .or_insert_with(|| Arc::new(Semaphore::new(size.max(1)))),
        )
    }

    /// Waits up to `queue_timeout` for a slot of `addr` (at most `size` in use at once).
    /// `None`: the queue deadline passed. `cache` (kept with the routing table's target)
    /// holds the backend's semaphore after the first request, so a request takes no lock
    /// shared by every worker thread.
    pub(crate) async fn acquire(
        &self,
        cache: &OnceLock<Arc<Semaphore>>,
        addr: SocketAddr,
        size: usize,
        queue_timeout: Duration,
    ) -> Option<Slot> {
        let semaphore = cache.get_or_init(|| self.semaphore(addr, size));
        if let Ok(slot) = Arc::clone(semaphore).try_acquire_owned() {
            return Some(slot);
        }
        match tokio::time::timeout(queue_timeout, Arc::clone(semaphore).acquire_owned()).await {
            Ok(Ok(slot)) => Some(slot),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_backend_queues_until_a_slot_frees_or_the_deadline() {
        let limits = Arc::new(BackendLimits::default());
        let addr: SocketAddr = ([127, 0, 0, 1], 1).into();
        let a = limits
            .acquire(&OnceLock::new(), addr, 1, Duration::from_millis(10))
            .await
            .unwrap();
        assert!(
            limits
                .acquire(&OnceLock::new(), addr, 1, Duration::from_millis(20))
                .await
                .is_none()
        );
        let waiter = {
            let limits = Arc::clone(&limits);
            tokio::spawn(async move {
                limits
                    .acquire(&OnceLock::new(), addr, 1, Duration::from_secs(10))
                    .await
            })
        };
        tokio::task::yield_now().await;
        drop(a);
        assert!(
            waiter.await.unwrap().is_some(),
            "the queued request got the slot"
        );
        let other: SocketAddr = ([127, 0, 0, 1], 2).into();
        assert!(
            limits
                .acquire(&OnceLock::new(), other, 1, Duration::from_millis(10))
                .await
                .is_some()
        );
    }
}
