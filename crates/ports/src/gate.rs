//! The request gate: a request's rate-limit check and the versions of the
//! cached entries it will read, in one round trip to a shared backend.
//!
//! On a node that shares Redis with others, checking the limiter, the session
//! and the resource one by one costs three round trips per request. A gate does
//! them in one: the versions it confirms let the node serve entries it already
//! holds in process, knowing no write on any node has replaced them.

use async_trait::async_trait;
use devora_domain::{PolicyName, Quota};

use crate::cache::{CacheError, Versioned, VersionedRead};
use crate::rate_limit::RateLimitDecision;

/// One request to count under a policy, by key.
#[derive(Debug, Clone)]
pub struct LimitCheck {
    pub policy: PolicyName,
    pub quota: Quota,
    pub key: String,
}

/// What the gate answered: the limiter's decision (when a check was asked) and,
/// unless the request was refused, one answer per read, in order.
#[derive(Debug, Clone)]
pub struct Passage {
    pub decision: Option<RateLimitDecision>,
    pub reads: Vec<Versioned>,
}

#[async_trait]
pub trait Gate: Send + Sync + 'static {
    /// Counts one request under `limit` (when given) and, if it is allowed,
    /// answers each of `reads` as [`crate::Cache::get_versioned`] would, in one
    /// round trip.
    ///
    /// # Errors
    /// [`CacheError::Unavailable`] when the backend cannot answer; the caller
    /// then limits and reads the slow way, through its fallbacks.
    async fn pass(&self, limit: Option<&LimitCheck>, reads: &[VersionedRead]) -> Result<Passage, CacheError>;

    /// A short name for logs and metrics (`redis`).
    fn backend(&self) -> &'static str;
}
