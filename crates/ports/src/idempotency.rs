//! Idempotency records: a key, the request it was first used with, and what
//! that request created.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::UserId;

use crate::StorageError;

/// What the first request under an idempotency key created, kept so that its
/// retries get the same answer instead of creating it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedResource {
    /// The resource as the first request returned it (serialised by the caller).
    pub representation: Vec<u8>,
    /// Where the resource can be fetched, when it has an address of its own.
    pub location: Option<String>,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// First use: go ahead, then complete or release the key with this claim's
    /// time, which identifies it: a claim taken over as abandoned cannot be
    /// completed or released by the request that abandoned it.
    Claimed(DateTime<Utc>),
    /// The same key and request are being processed right now.
    InFlight,
    /// The key was used with a different request.
    Mismatch,
    /// The same key and request completed: replay this.
    Completed(CreatedResource),
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for `fingerprint`, or reports what it is already bound to.
    /// Records older than `expires_before` count as absent (and are purged), and so
    /// do claims still in flight since before `stale_before` (their process died).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn claim(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_before: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StorageError>;

    /// Keeps what the claim created, for replays,, if the claim made at `claimed_at` still
    /// holds the key; `false` when another request took it over meanwhile.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn complete(
        &self,
        user: UserId,
        key: &str,
        claimed_at: DateTime<Utc>,
        created: &CreatedResource,
    ) -> Result<bool, StorageError>;

    /// Forgets the claim made at `claimed_at`, whose request failed, so a retry
    /// can run. Another request's claim of the same key is left alone.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn release(&self, user: UserId, key: &str, claimed_at: DateTime<Utc>) -> Result<(), StorageError>;
}
