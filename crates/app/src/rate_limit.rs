//! A limiter that prefers a shared backend and falls back to a local one.

use std::sync::Arc;

use async_trait::async_trait;
use devora_domain::{PolicyName, Quota};
use devora_ports::{RateLimitDecision, RateLimitError, RateLimiter};

/// Checks against `primary` (Redis, exact across nodes); when it cannot answer,
/// checks against `fallback` (in-process) instead, so a request is limited per
/// node rather than failed. Each call tries the primary again, and the primary's
/// own circuit breaker keeps that cheap while it is down.
pub struct FallbackRateLimiter {
    primary: Arc<dyn RateLimiter>,
    fallback: Arc<dyn RateLimiter>,
}

impl FallbackRateLimiter {
    #[must_use]
    pub fn new(primary: Arc<dyn RateLimiter>, fallback: Arc<dyn RateLimiter>) -> Self {
        Self { primary, fallback }
    }
}

#[async_trait]
impl RateLimiter for FallbackRateLimiter {
    async fn check(&self, policy: &PolicyName, quota: Quota, key: &str) -> Result<RateLimitDecision, RateLimitError> {
        match self.primary.check(policy, quota, key).await {
            Ok(decision) => {
                metrics::counter!("rate_limit_checks_total", "backend" => self.primary.backend()).increment(1);
                Ok(decision)
            }
            Err(err) => {
                tracing::debug!(error = %err, "primary rate limiter unavailable; using fallback");
                metrics::counter!("rate_limit_checks_total", "backend" => self.fallback.backend()).increment(1);
                metrics::counter!("rate_limit_fallback_total").increment(1);
                self.fallback.check(policy, quota, key).await
            }
        }
    }

    fn backend(&self) -> &'static str {
        self.primary.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    struct Counting {
        fail: bool,
        calls: AtomicU32,
    }

    #[async_trait]
    impl RateLimiter for Counting {
        async fn check(&self, _: &PolicyName, _: Quota, _: &str) -> Result<RateLimitDecision, RateLimitError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(RateLimitError::Unavailable("down".into()));
            }
            Ok(RateLimitDecision { allowed: true, remaining: 1, reset_after: Duration::ZERO, retry_after: None })
        }
        fn backend(&self) -> &'static str {
            "counting"
        }
    }

    #[tokio::test]
    async fn falls_back_only_when_primary_fails() {
        let policy = PolicyName::parse("p").unwrap();
        let quota = Quota::per_minute(5).unwrap();
        for primary_fails in [false, true] {
            let primary = Arc::new(Counting { fail: primary_fails, calls: AtomicU32::new(0) });
            let fallback = Arc::new(Counting { fail: false, calls: AtomicU32::new(0) });
            let limiter = FallbackRateLimiter::new(primary.clone(), fallback.clone());
            assert!(limiter.check(&policy, quota, "k").await.unwrap().allowed);
            assert_eq!(primary.calls.load(Ordering::SeqCst), 1);
            assert_eq!(fallback.calls.load(Ordering::SeqCst), u32::from(primary_fails));
        }
    }
}
