use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts};
use devora_ports::{Probe, ProbeError};

use crate::breaker::{Breaker, BreakerState};

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    /// Prepended to every key, so several deployments (or test runs) can share one Redis.
    pub key_prefix: String,
    pub pool_size: usize,
    /// Upper bound on any one operation, connection included.
    pub op_timeout: Duration,
    /// Consecutive failures that open the circuit.
    pub breaker_threshold: u32,
    /// How long the circuit stays open before a trial call.
    pub breaker_cooldown: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("invalid REDIS_URL: {0}")]
    Config(String),
    #[error("redis circuit open")]
    CircuitOpen,
    #[error("redis timed out")]
    Timeout,
    #[error("redis: {0}")]
    Backend(String),
}

/// A Redis pool with a per-operation timeout and a circuit breaker, shared by the
/// cache, the rate limiter and the health probe.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    prefix: String,
    op_timeout: Duration,
    breaker: Breaker,
}

impl RedisStore {
    /// Builds the pool. Connections are made lazily, so this succeeds while Redis is down.
    ///
    /// # Errors
    /// [`RedisError::Config`] when the URL cannot be parsed.
    pub fn new(config: &RedisConfig) -> Result<Self, RedisError> {
        let mut cfg = Config::from_url(config.url.clone());
        cfg.pool = Some(PoolConfig {
            max_size: config.pool_size.max(1),
            timeouts: Timeouts {
                wait: Some(config.op_timeout),
                create: Some(config.op_timeout),
                recycle: Some(config.op_timeout),
            },
            ..PoolConfig::default()
        });
        let pool = cfg.create_pool(Some(Runtime::Tokio1)).map_err(|e| RedisError::Config(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                prefix: config.key_prefix.clone(),
                op_timeout: config.op_timeout,
                breaker: Breaker::new(config.breaker_threshold, config.breaker_cooldown),
            }),
        })
    }

    #[must_use]
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = String::with_capacity(self.inner.prefix.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
        key.push_str(&self.inner.prefix);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                key.push(':');
            }
            key.push_str(part);
        }
        key
    }

    #[must_use]
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breaker.state()
    }

    /// Runs `op` on a pooled connection, unless the circuit is open, within the
    /// operation timeout; the outcome feeds the breaker and the `redis_up` gauge.
    ///
    /// # Errors
    /// [`RedisError::CircuitOpen`], [`RedisError::Timeout`] or [`RedisError::Backend`].
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, deadpool_redis::redis::RedisError>>,
    {
        if !self.inner.breaker.allow() {
            return Err(RedisError::CircuitOpen);
        }
        self.run_unguarded(op).await
    }

    async fn run_unguarded<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, deadpool_redis::redis::RedisError>>,
    {
        let attempt = async {
            let conn = self.inner.pool.get().await.map_err(|e| RedisError::Backend(e.to_string()))?;
            op(conn).await.map_err(|e| RedisError::Backend(e.to_string()))
        };
        let outcome = match tokio::time::timeout(self.inner.op_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::Timeout),
        };
        match &outcome {
            Ok(_) => {
                self.inner.breaker.record_success();
                metrics::gauge!("redis_up").set(1.0);
            }
            Err(err) => {
                self.inner.breaker.record_failure();
                metrics::gauge!("redis_up").set(0.0);
                metrics::counter!("redis_errors_total").increment(1);
                tracing::warn!(error = %err, "redis operation failed");
            }
        }
        metrics::gauge!("redis_circuit_state").set(self.inner.breaker.state().as_gauge());
        outcome
    }
}

#[async_trait]
impl Probe for RedisStore {
    /// Pings even while the circuit is open (readiness must tell the truth), and a
    /// successful ping closes the circuit, so recovery does not wait for traffic.
    async fn check(&self) -> Result<(), ProbeError> {
        let pong = self
            .run_unguarded(|mut conn| async move {
                deadpool_redis::redis::cmd("PING").query_async::<String>(&mut conn).await
            })
            .await;
        match pong {
            Ok(_) => Ok(()),
            Err(RedisError::Timeout) => Err(ProbeError::Timeout),
            Err(_) => Err(ProbeError::Unreachable),
        }
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
