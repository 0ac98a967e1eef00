//! Rate limiting: may this key make one more request under this quota?

use std::time::Duration;

use async_trait::async_trait;
use devora_domain::{PolicyName, Quota};

/// The outcome of one check, with what the IETF `RateLimit` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitDecision {
    pub allowed: bool,
    /// Requests still allowed right now, after this one.
    pub remaining: u32,
    /// Time until the quota is fully restored.
    pub reset_after: Duration,
    /// When refused: how long until one request will be allowed.
    pub retry_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The backend could not answer in time; the caller falls back to another limiter.
    #[error("rate limiter unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request by `key` under `policy` with `quota` and says whether it
    /// is allowed. Keys of different policies never share state.
    ///
    /// # Errors
    /// [`RateLimitError::Unavailable`] when the backend cannot be reached in time.
    async fn check(&self, policy: &PolicyName, quota: Quota, key: &str) -> Result<RateLimitDecision, RateLimitError>;

    /// A short name for logs and metrics (`in-process`, `redis`).
    fn backend(&self) -> &'static str;
}
