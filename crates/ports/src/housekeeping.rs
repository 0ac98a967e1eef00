//! Records that outlive their use: ended sessions, expired sign-in state,
//! idempotency keys past their retention.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StorageError;

/// How many records one purge removed, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Sessions expired, or revoked over a day ago (with their refresh tokens).
    pub sessions: u64,
    pub pending_sign_ins: u64,
    pub login_codes: u64,
    pub idempotency_keys: u64,
}

#[async_trait]
pub trait ExpiredRecords: Send + Sync + 'static {
    /// Deletes sessions that ended (expired before `now`, or revoked over a day
    /// before it), pending sign-ins and login codes expired at `now`, and
    /// idempotency records created before `idempotency_before`. Live records are
    /// never touched, so a purge cannot race a sign-in, a refresh or a claim.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        idempotency_before: DateTime<Utc>,
    ) -> Result<PurgeReport, StorageError>;
}
