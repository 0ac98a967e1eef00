use async_trait::async_trait;
use devora_domain::{PolicyName, Quota};
use devora_ports::{RateLimitDecision, RateLimitError, RateLimiter};
use redis::Script;

use crate::scripts;
use crate::store::RedisStore;

/// The key of `key`'s GCRA state under `policy`.
pub(crate) fn rate_key(store: &RedisStore, policy: &PolicyName, key: &str) -> String {
    store.key(&["rl", policy.as_str(), key])
}

/// Exact rate limiting across any number of nodes sharing one Redis: GCRA in
/// one atomic script (see `scripts`), one round trip.
pub struct RedisRateLimiter {
    store: RedisStore,
    script: Script,
}

impl RedisRateLimiter {
    #[must_use]
    pub fn new(store: RedisStore) -> Self {
        Self { store, script: Script::new(&scripts::gcra()) }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, policy: &PolicyName, quota: Quota, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        let redis_key = rate_key(&self.store, policy, key);
        let interval_ms = u64::try_from(quota.emission_interval().as_millis()).unwrap_or(u64::MAX).max(1);
        let limit = quota.limit().get();
        let script = &self.script;
        let numbers: (i64, i64, i64, i64) =
            self.store
                .run(|mut conn| async move {
                    script.key(redis_key).arg(interval_ms).arg(limit).invoke_async(&mut conn).await
                })
                .await
                .map_err(|e| RateLimitError::Unavailable(e.to_string()))?;
        Ok(scripts::decision([numbers.0, numbers.1, numbers.2, numbers.3], limit))
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
