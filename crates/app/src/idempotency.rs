//! `Idempotency-Key` for creating POSTs: the same key and request within the
//! retention replays the first response; another request under the key is
//! refused; a duplicate while the first is in flight is a conflict.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use devora_domain::UserId;
use devora_ports::{Clock, CreatedResource, IdempotencyClaim, IdempotencyStore};

use crate::InternalError;

#[derive(Clone)]
pub struct IdempotencyService {
    store: Arc<dyn IdempotencyStore>,
    clock: Arc<dyn Clock>,
    retention: Duration,
}

impl IdempotencyService {
    #[must_use]
    pub fn new(store: Arc<dyn IdempotencyStore>, clock: Arc<dyn Clock>, retention: Duration) -> Self {
        Self { store, clock, retention }
    }

    /// Valid keys: 1..=255 visible ASCII characters.
    #[must_use]
    pub fn valid_key(key: &str) -> bool {
        (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
    }

    /// # Errors
    /// Storage failures.
    pub async fn claim(&self, user: UserId, key: &str, fingerprint: &str) -> Result<IdempotencyClaim, InternalError> {
        let now = self.clock.now();
        let retention = chrono::Duration::from_std(self.retention).unwrap_or_else(|_| chrono::Duration::days(1));
        // A claim still in flight after this long belongs to a request that died
        // with its process; the key may be claimed again.
        let stale = chrono::Duration::seconds(60);
        Ok(self.store.claim(user, key, fingerprint, now, now - retention, now - stale).await?)
    }

    /// Keeps what the claim created, for replays, under the claim made at `claimed_at`.
    pub async fn complete(&self, user: UserId, key: &str, claimed_at: DateTime<Utc>, created: &CreatedResource) {
        match self.store.complete(user, key, claimed_at, created).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("idempotency claim was taken over as abandoned; the response is not kept"),
            Err(err) => {
                tracing::error!(error = %err, "idempotent response not stored; a retry will run again");
                self.release(user, key, claimed_at).await;
            }
        }
    }

    /// Lets a retry run after a failure (if the claim made at `claimed_at` still holds the key).
    pub async fn release(&self, user: UserId, key: &str, claimed_at: DateTime<Utc>) {
        if let Err(err) = self.store.release(user, key, claimed_at).await {
            tracing::error!(error = %err, "idempotency key not released");
        }
    }
}
