//! Readiness: is the database answering, and how is Redis?

use std::sync::Arc;
use std::time::{Duration, Instant};

use devora_ports::{Probe, ProbeError};

/// What one dependency's check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentReport {
    Up {
        backend: &'static str,
        latency: Duration,
    },
    Down {
        backend: &'static str,
        latency: Duration,
        reason: &'static str,
    },
    /// The dependency is not configured on this node.
    Disabled {
        backend: &'static str,
    },
}

impl ComponentReport {
    #[must_use]
    pub fn is_up(&self) -> bool {
        matches!(self, Self::Up { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadinessReport {
    pub database: ComponentReport,
    pub redis: ComponentReport,
}

impl ReadinessReport {
    /// Ready means the database answers; Redis is reported, never fatal.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.database.is_up()
    }
}

#[derive(Clone)]
pub struct HealthService {
    database: Arc<dyn Probe>,
    redis: Option<Arc<dyn Probe>>,
    timeout: Duration,
}

impl HealthService {
    /// `timeout` bounds each check; both run at once, so a readiness answer takes
    /// at most `timeout` plus scheduling.
    #[must_use]
    pub fn new(database: Arc<dyn Probe>, redis: Option<Arc<dyn Probe>>, timeout: Duration) -> Self {
        Self { database, redis, timeout }
    }

    pub async fn readiness(&self) -> ReadinessReport {
        let database = check(self.database.as_ref(), self.timeout);
        let redis = async {
            match &self.redis {
                Some(probe) => check(probe.as_ref(), self.timeout).await,
                None => ComponentReport::Disabled { backend: "in-process" },
            }
        };
        let (database, redis) = tokio::join!(database, redis);
        ReadinessReport { database, redis }
    }
}

async fn check(probe: &dyn Probe, timeout: Duration) -> ComponentReport {
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, probe.check()).await;
    let latency = started.elapsed();
    let backend = probe.backend();
    match outcome {
        Ok(Ok(())) => ComponentReport::Up { backend, latency },
        Ok(Err(ProbeError::Unreachable)) => ComponentReport::Down { backend, latency, reason: "unreachable" },
        Ok(Err(ProbeError::Timeout)) | Err(_) => ComponentReport::Down { backend, latency, reason: "timeout" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;

    struct Fixed(Result<(), ()>, Duration);

    #[async_trait]
    impl Probe for Fixed {
        async fn check(&self) -> Result<(), ProbeError> {
            tokio::time::sleep(self.1).await;
            self.0.map_err(|()| ProbeError::Unreachable)
        }
        fn backend(&self) -> &'static str {
            "fixed"
        }
    }

    #[tokio::test]
    async fn ready_when_database_up_even_if_redis_down() {
        let svc = HealthService::new(
            Arc::new(Fixed(Ok(()), Duration::ZERO)),
            Some(Arc::new(Fixed(Err(()), Duration::ZERO))),
            Duration::from_secs(1),
        );
        let report = svc.readiness().await;
        assert!(report.is_ready());
        assert!(matches!(report.redis, ComponentReport::Down { reason: "unreachable", .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_database_is_down_after_the_timeout() {
        let svc =
            HealthService::new(Arc::new(Fixed(Ok(()), Duration::from_secs(3600))), None, Duration::from_millis(1500));
        let report = svc.readiness().await;
        assert!(!report.is_ready());
        assert!(matches!(report.database, ComponentReport::Down { reason: "timeout", .. }));
        assert_eq!(report.redis, ComponentReport::Disabled { backend: "in-process" });
    }
}
