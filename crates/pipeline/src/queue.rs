//! The recorder's queue: many senders, one writer that takes everything queued as one
//! batch. Unlike a channel, a send during the writer's linger does not wake it: only the
//! first message of a batch, one somebody waits on (urgent), a full batch or closing do.
//! A channel woke the writer twice per step, and on a busy two-core machine each wakeup
//! could take the CPU from the thread running the steps.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub(crate) struct Queue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    max_batch: usize,
}

struct State<T> {
    items: Vec<T>,
    urgent: bool,
    closed: bool,
}

impl<T> Queue<T> {
    pub fn new(max_batch: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(State {
                items: Vec::new(),
                urgent: false,
                closed: false,
            }),
            ready: Condvar::new(),
            max_batch: max_batch.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues ITEM; URGENT: somebody waits for it, so the writer takes it now. After
    /// `abandon` the item is dropped at once (so whoever waits on it hears of it).
    pub fn push(&self, item: T, urgent: bool) {
        let wake = {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            let first = s.items.is_empty();
            s.items.push(item);
            s.urgent |= urgent;
            first || urgent || s.items.len() >= self.max_batch
        };
        if wake {
            self.ready.notify_one();
        }
    }

    /// The writer is gone (it panicked): drops what is queued and all that comes after.
    pub fn abandon(&self) {
        let items = {
            let mut s = self.lock();
            s.closed = true;
            std::mem::take(&mut s.items)
        };
        drop(items);
    }

    /// No more items will come; the writer takes what is left and then gets `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// The next batch: waits for a first item, then up to LINGER for company unless
    /// something urgent is queued, the batch is full or the queue is closed.
    pub fn next_batch(&self, linger: Duration) -> Option<Vec<T>> {
        let mut s = self.lock();
        while s.items.is_empty() {
            if s.closed {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        let deadline = Instant::now() + linger;
        while !s.urgent && !s.closed && s.items.len() < self.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = self
                .ready
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        s.urgent = false;
        Some(std::mem::take(&mut s.items))
    }
}

#[cfg(test)]
mod tests {
    use super::Queue;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn items_linger_to_share_a_batch() {
        let q = Arc::new(Queue::new(100));
        q.push(1, false);
        let sender = q.clone();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.push(2, false);
        });
        let started = Instant::now();
        assert_eq!(q.next_batch(Duration::from_millis(300)), Some(vec![1, 2]));
        assert!(started.elapsed() >= Duration::from_millis(300));
        late.join().unwrap();
    }

    #[test]
    fn urgent_full_and_closed_end_the_linger() {
        let q = Arc::new(Queue::new(3));
        let long = Duration::from_secs(60);
        let started = Instant::now();
        q.push(1, false);
        q.push(2, true);
        assert_eq!(q.next_batch(long), Some(vec![1, 2]));
        // Urgency belongs to the batch that had it.
        q.push(3, false);
        let sender = q.clone();
        let more = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.push(4, false);
            sender.push(5, false);
        });
        assert_eq!(q.next_batch(long), Some(vec![3, 4, 5]), "a full batch goes");
        more.join().unwrap();
        q.push(6, false);
        let closer = q.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            closer.close();
        });
        assert_eq!(q.next_batch(long), Some(vec![6]));
        assert_eq!(q.next_batch(long), None);
        q.push(7, true);
        assert_eq!(q.next_batch(long), None, "nothing is taken after the end");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
