//! The request gate over Redis: the rate-limit check and the versioned reads of
//! one request in a single script, one round trip (see `scripts::gate`).

use std::sync::Arc;

use async_trait::async_trait;
use devora_ports::{CacheError, Gate, LimitCheck, Passage, VersionedRead};
use redis::Script;

use crate::cache::{READ_VERSION_TTL_SECS, RedisCache, entry_outcome, outcome};
use crate::rate_limit::rate_key;
use crate::scripts::{self, Reply};

#[derive(Clone)]
pub struct RedisGate {
    cache: RedisCache,
    script: Arc<Script>,
}

impl RedisGate {
    /// A gate over `cache`'s entries and the limiter's keys (same store, same prefix).
    #[must_use]
    pub fn new(cache: RedisCache) -> Self {
        Self { cache, script: Arc::new(Script::new(&scripts::gate())) }
    }
}

#[async_trait]
impl Gate for RedisGate {
    async fn pass(&self, limit: Option<&LimitCheck>, reads: &[VersionedRead]) -> Result<Passage, CacheError> {
        // A node that failed to invalidate serves nothing versioned until it has.
        self.cache.flush_pending().await?;
        let store = self.cache.store();
        let mut invocation = self.script.prepare_invoke();
        invocation.key(self.cache.counter_key());
        let limit_number = match limit {
            Some(check) => {
                let interval_ms = u64::try_from(check.quota.emission_interval().as_millis()).unwrap_or(u64::MAX).max(1);
                invocation
                    .key(rate_key(store, &check.policy, &check.key))
                    .arg(interval_ms)
                    .arg(check.quota.limit().get());
                check.quota.limit().get()
            }
            None => {
                invocation.key(store.key(&["rl", "-"])).arg(0).arg(0);
                0
            }
        };
        invocation.arg(READ_VERSION_TTL_SECS);
        for read in reads {
            invocation.key(self.cache.version_key(&read.scope));
            invocation.arg(self.cache.data_key(&read.key)).arg(read.held.map(|v| v.to_string()).unwrap_or_default());
        }
        let reply = store
            .run(|mut conn| async move { invocation.invoke_async::<redis::Value>(&mut conn).await })
            .await
            .map_err(|e| CacheError::Unavailable(e.to_string()))?;
        let bad = |e: scripts::BadReply| CacheError::Unavailable(e.to_string());
        let mut reply = Reply::new(reply).map_err(bad)?;
        let numbers = reply.gcra().map_err(bad)?;
        let decision = limit.map(|_| scripts::decision(numbers, limit_number));
        let mut answers = Vec::with_capacity(reads.len());
        if decision.is_none_or(|d| d.allowed) {
            for _ in reads {
                let answer = reply.versioned().map_err(bad)?;
                outcome(entry_outcome(&answer.entry));
                answers.push(answer);
            }
        }
        if !reply.is_done() {
            return Err(bad(scripts::BadReply));
        }
        Ok(Passage { decision, reads: answers })
    }
}
