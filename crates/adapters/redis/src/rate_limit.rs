use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use devora_domain::{PolicyName, Quota};
use devora_ports::{RateLimitDecision, RateLimitError, RateLimiter};

use crate::store::RedisStore;

/// GCRA in one atomic script, one round trip. The key holds the theoretical
/// arrival time (TAT) in milliseconds of Redis's own clock, so every node agrees
/// whatever its local clock says. Returns {allowed, remaining, retry_after_ms, reset_after_ms}.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local tolerance = interval * limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
";

/// Exact rate limiting across any number of nodes sharing one Redis.
pub struct RedisRateLimiter {
    store: RedisStore,
    script: Script,
}

impl RedisRateLimiter {
    #[must_use]
    pub fn new(store: RedisStore) -> Self {
        Self { store, script: Script::new(GCRA) }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, policy: &PolicyName, quota: Quota, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        let redis_key = self.store.key(&["rl", policy.as_str(), key]);
        let interval_ms = u64::try_from(quota.emission_interval().as_millis()).unwrap_or(u64::MAX).max(1);
        let limit = quota.limit().get();
        let script = &self.script;
        let (allowed, remaining, retry_ms, reset_ms): (i64, i64, i64, i64) =
            self.store
                .run(|mut conn| async move {
                    script.key(redis_key).arg(interval_ms).arg(limit).invoke_async(&mut conn).await
                })
                .await
                .map_err(|e| RateLimitError::Unavailable(e.to_string()))?;
        let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
        Ok(RateLimitDecision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0).min(limit),
            reset_after: ms(reset_ms),
            retry_after: (allowed != 1).then(|| ms(retry_ms)),
        })
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
