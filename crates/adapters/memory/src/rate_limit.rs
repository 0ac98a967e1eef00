use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use devora_domain::{PolicyName, Quota};
use devora_ports::{RateLimitDecision, RateLimitError, RateLimiter};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

type KeyedLimiter =
    governor::RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// One keyed limiter per (policy, quota).
type Limiters = RwLock<HashMap<(PolicyName, Quota), Arc<KeyedLimiter>>>;

/// GCRA per key with governor, one keyed limiter per (policy, quota).
///
/// Keys whose state has fully replenished are pruned periodically, so memory is
/// bounded by the keys seen within one window, not by every key ever seen.
pub struct MemoryRateLimiter {
    limiters: Arc<Limiters>,
    clock: DefaultClock,
}

impl MemoryRateLimiter {
    /// Builds the limiter and, when a Tokio runtime is running, a task that prunes
    /// stale keys every `prune_every`. The task stops when the limiter is dropped.
    #[must_use]
    pub fn new(prune_every: Duration) -> Self {
        let limiters: Arc<Limiters> = Arc::default();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&limiters);
            runtime.spawn(prune_periodically(weak, prune_every));
        }
        Self { limiters, clock: DefaultClock::default() }
    }

    /// Drops keys whose quota is fully restored; they behave exactly like unseen keys.
    pub fn prune(&self) {
        prune(&self.limiters);
    }

    /// How many keys are tracked across all policies.
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        count_keys(&self.limiters)
    }

    fn limiter(&self, policy: &PolicyName, quota: Quota) -> Arc<KeyedLimiter> {
        let id = (policy.clone(), quota);
        if let Some(limiter) = self.limiters.read().ok().and_then(|map| map.get(&id).cloned()) {
            return limiter;
        }
        let mut map = self.limiters.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(id)
            .or_insert_with(|| {
                let gq = governor::Quota::with_period(quota.emission_interval())
                    .unwrap_or_else(|| governor::Quota::per_second(quota.limit()))
                    .allow_burst(quota.limit());
                Arc::new(governor::RateLimiter::keyed(gq).with_middleware::<StateInformationMiddleware>())
            })
            .clone()
    }
}

fn count_keys(limiters: &Limiters) -> usize {
    limiters.read().map(|map| map.values().map(|l| l.len()).sum()).unwrap_or(0)
}

fn prune(limiters: &Limiters) {
    let all: Vec<Arc<KeyedLimiter>> = match limiters.read() {
        Ok(map) => map.values().cloned().collect(),
        Err(_) => return,
    };
    for limiter in all {
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
}

async fn prune_periodically(limiters: Weak<Limiters>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(limiters) = limiters.upgrade() else { return };
        prune(&limiters);
        let keys = count_keys(&limiters);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("rate_limit_memory_keys").set(keys as f64);
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, policy: &PolicyName, quota: Quota, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        let limiter = self.limiter(policy, quota);
        let interval = quota.emission_interval();
        let limit = quota.limit().get();
        Ok(match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateLimitDecision {
                    allowed: true,
                    remaining,
                    reset_after: interval * (limit - remaining.min(limit)),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                RateLimitDecision {
                    allowed: false,
                    remaining: 0,
                    reset_after: wait + interval * (limit - 1),
                    retry_after: Some(wait),
                }
            }
        })
    }

    fn backend(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PolicyName {
        PolicyName::parse("test").unwrap()
    }

    #[tokio::test]
    async fn allows_exactly_the_quota_then_refuses() {
        let limiter = MemoryRateLimiter::new(Duration::from_secs(60));
        let quota = Quota::per_minute(5).unwrap();
        for expected_remaining in (0..5).rev() {
            let d = limiter.check(&policy(), quota, "ip:1").await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let refused = limiter.check(&policy(), quota, "ip:1").await.unwrap();
        assert!(!refused.allowed);
        let retry = refused.retry_after.unwrap();
        assert!(retry > Duration::from_secs(10) && retry <= Duration::from_secs(12), "{retry:?}");
        // Another key is untouched.
        assert!(limiter.check(&policy(), quota, "ip:2").await.unwrap().allowed);
    }

    /// Resident memory of this process in KiB (Linux), for the report below.
    fn rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_thousand_distinct_keys_are_pruned_to_nothing() {
        let limiter = MemoryRateLimiter::new(Duration::from_secs(3600));
        // 100 per second: a single request's state is forgotten after 10 ms.
        let quota = Quota::new(100, Duration::from_secs(1)).unwrap();
        let before = rss_kib();
        for i in 0..200_000u32 {
            let d = limiter.check(&policy(), quota, &format!("ip:10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)).await;
            assert!(d.unwrap().allowed);
        }
        let peak = rss_kib();
        assert_eq!(limiter.tracked_keys(), 200_000);
        tokio::time::sleep(Duration::from_millis(50)).await;
        limiter.prune();
        assert_eq!(limiter.tracked_keys(), 0, "every replenished key is dropped");
        if let (Some(before), Some(peak), Some(after)) = (before, peak, rss_kib()) {
            println!(
                "200000 keys: RSS {before} KiB before, {peak} KiB at peak (~{} bytes/key), {after} KiB after pruning",
                (peak.saturating_sub(before) * 1024) / 200_000
            );
        }
        // A key that is still inside its window survives pruning.
        let slow = Quota::per_minute(5).unwrap();
        limiter.check(&policy(), slow, "ip:recent").await.unwrap();
        limiter.prune();
        assert_eq!(limiter.tracked_keys(), 1);
    }

    #[tokio::test]
    async fn pruning_forgets_replenished_keys() {
        let limiter = MemoryRateLimiter::new(Duration::from_secs(3600));
        let quota = Quota::new(100, Duration::from_secs(1)).unwrap();
        for i in 0..1000 {
            limiter.check(&policy(), quota, &format!("k{i}")).await.unwrap();
        }
        assert_eq!(limiter.tracked_keys(), 1000);
        tokio::time::sleep(Duration::from_millis(50)).await;
        limiter.prune();
        assert_eq!(limiter.tracked_keys(), 0);
    }
}
