//! A shared key-value cache with per-entry time to live.

use std::time::Duration;

use async_trait::async_trait;

/// The cache could not answer. Callers treat this as a miss and carry on: a cache
/// is never allowed to fail a request.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The backend did not answer in time, or its circuit is open.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

/// One versioned entry to read: its scope, its key, and the version of it the
/// caller already holds, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedRead {
    pub scope: String,
    pub key: String,
    pub held: Option<u64>,
}

/// A scope's current version and what is stored under the key for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub version: u64,
    pub entry: Entry,
}

/// What the cache holds under a key for the current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Nothing: load from the source and store it for this version.
    Missing,
    /// The version is the one the reader said it holds; its value was not sent.
    Held,
    /// The value stored for this version.
    Value(Vec<u8>),
}

#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value stored under `key`, or `None` on a miss or after expiry.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`] when the backend cannot be reached in time.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;

    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`] when the backend cannot be reached in time.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;

    /// Removes `keys`; missing keys are not an error.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`] when the backend cannot be reached in time.
    async fn delete(&self, keys: &[&str]) -> Result<(), CacheError>;

    /// The current version of `scope` and what is stored under `key` for that
    /// version, in one round trip. A scope without a version gets a fresh one
    /// (never reused), so nothing stored before can be found. When the current
    /// version is `held` (the caller already has that version's value) the value
    /// is not sent again: [`Entry::Held`].
    ///
    /// Versioned entries make invalidation race-free: a reader that loaded old
    /// data before a write can only store it under the old version, which no
    /// reader after the write asks for.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`]; callers then load from the source and do not cache.
    async fn get_versioned(&self, read: &VersionedRead) -> Result<Versioned, CacheError>;

    /// Stores `value` under `key` for `version` of its scope.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`].
    async fn set_versioned(&self, key: &str, version: u64, value: &[u8], ttl: Duration) -> Result<(), CacheError>;

    /// Moves each scope to a new version: everything cached under its old version
    /// becomes unreachable, on every node.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`]; the adapter retries the bump before it serves
    /// that scope again.
    async fn bump(&self, scopes: &[&str]) -> Result<(), CacheError>;

    /// A short name for logs, metrics and the readiness report (`in-process`, `redis`).
    fn backend(&self) -> &'static str;
}
