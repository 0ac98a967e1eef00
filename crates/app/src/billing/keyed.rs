//! One async lock per key (a customer id), held by this node's handlers in turn,
//! so concurrent deliveries for one customer wait here, not each holding a
//! database connection while they wait for the customer's row lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub(super) struct KeyedLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyedLocks {
    /// Waits for `key`'s turn; the turn ends when the guard drops.
    pub(super) async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            // Forget the keys nobody holds or waits for, so the map stays small.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(key.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_key_is_held_by_one_caller_at_a_time_and_other_keys_do_not_wait() {
        let locks = Arc::new(KeyedLocks::default());
        let inside = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (locks, inside) = (locks.clone(), inside.clone());
                tokio::spawn(async move {
                    let _turn = locks.lock("cus_1").await;
                    assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two callers inside at once");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        let _other = tokio::time::timeout(Duration::from_secs(1), locks.lock("cus_2")).await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        drop(_other);
        let _again = locks.lock("cus_3").await;
        assert_eq!(locks.locks.lock().unwrap().len(), 1, "released keys are forgotten");
    }
}
