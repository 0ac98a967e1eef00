//! The request gate over Redis: the rate-limit check and the versioned reads of
//! one request in a single script, one round trip (see `scripts::gate`). The
//! cache's own versioned read is the same script with nothing counted.

use async_trait::async_trait;
use devora_ports::{CacheError, Gate, LimitCheck, Passage, VersionedRead};

use crate::cache::{READ_VERSION_TTL_SECS, RedisCache, entry_outcome, outcome};
use crate::rate_limit::rate_key;
use crate::scripts::{self, Reply};

impl RedisCache {
    /// Runs the gate script: counts a request under `limit` (when given) and,
    /// unless refused, answers each of `reads`.
    pub(crate) async fn pass(
        &self,
        limit: Option<&LimitCheck>,
        reads: &[VersionedRead],
    ) -> Result<Passage, CacheError> {
        let passage = self.run_gate(limit, reads).await;
        match &passage {
            Ok(passage) => passage.reads.iter().for_each(|answer| outcome(entry_outcome(&answer.entry))),
            Err(_) => outcome("error"),
        }
        passage
    }

    async fn run_gate(&self, limit: Option<&LimitCheck>, reads: &[VersionedRead]) -> Result<Passage, CacheError> {
        // A node that failed to invalidate serves nothing versioned until it has.
        self.flush_pending().await?;
        let store = self.store();
        let mut invocation = self.gate_script().prepare_invoke();
        invocation.key(self.counter_key());
        for read in reads {
            invocation.key(self.version_key(&read.scope));
        }
        match limit {
            Some(check) => {
                let interval_ms = u64::try_from(check.quota.emission_interval().as_millis()).unwrap_or(u64::MAX).max(1);
                invocation
                    .key(rate_key(store, &check.policy, &check.key))
                    .arg(interval_ms)
                    .arg(check.quota.limit().get());
            }
            None => {
                invocation.arg(0).arg(0);
            }
        }
        invocation.arg(READ_VERSION_TTL_SECS);
        for read in reads {
            invocation.arg(self.data_key(&read.key)).arg(read.held.map(|v| v.to_string()).unwrap_or_default());
        }
        let reply = store
            .run(|mut conn| async move { invocation.invoke_async::<redis::Value>(&mut conn).await })
            .await
            .map_err(|e| CacheError::Unavailable(e.to_string()))?;
        let bad = |e: scripts::BadReply| CacheError::Unavailable(e.to_string());
        let mut reply = Reply::new(reply).map_err(bad)?;
        let numbers = reply.gcra().map_err(bad)?;
        let decision = limit.map(|check| scripts::decision(numbers, check.quota.limit().get()));
        let mut answers = Vec::with_capacity(reads.len());
        if decision.is_none_or(|d| d.allowed) {
            for _ in reads {
                answers.push(reply.versioned().map_err(bad)?);
            }
        }
        if !reply.is_done() {
            return Err(bad(scripts::BadReply));
        }
        Ok(Passage { decision, reads: answers })
    }
}

#[async_trait]
impl Gate for RedisCache {
    async fn pass(&self, limit: Option<&LimitCheck>, reads: &[VersionedRead]) -> Result<Passage, CacheError> {
        RedisCache::pass(self, limit, reads).await
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
