use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use devora_ports::{Probe, ProbeError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::breaker::{Breaker, BreakerState};

/// A connection handed to an operation: a clone of a shared multiplexed
/// connection (cheap; concurrent commands from every request are pipelined on it).
pub type Connection = ConnectionManager;

#[derive(Debug, Clone)]
pub struct RedisConfig {
    pub url: String,
    /// Prepended to every key, so several deployments (or test runs) can share one Redis.
    pub key_prefix: String,
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

/// One shared multiplexed connection with a per-operation timeout and a circuit
/// breaker, used by the cache, the rate limiter, the gate and the health probe.
///
/// Not a pool: a pool checks a connection out per operation, and deadpool-redis
/// pings it on every checkout (a second round trip per command, measured in
/// `docs/benchmarks.md`). A multiplexed connection is safe to share, so every
/// operation uses one directly; redis-rs's `ConnectionManager` reconnects it when
/// it drops. One that fails otherwise (a black-holed socket, a handshake cut
/// short) is replaced, since only some failures make the manager reconnect.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: ConnectionManagerConfig,
    connection: RwLock<Arc<ConnectionManager>>,
    prefix: String,
    op_timeout: Duration,
    breaker: Breaker,
}

fn lazy_manager(
    client: &redis::Client,
    config: &ConnectionManagerConfig,
) -> Result<Arc<ConnectionManager>, RedisError> {
    ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
        .map(Arc::new)
        .map_err(|e| RedisError::Config(e.to_string()))
}

impl RedisStore {
    /// Builds the connection. It connects lazily, so this succeeds while Redis is down.
    ///
    /// # Errors
    /// [`RedisError::Config`] when the URL cannot be parsed.
    pub fn new(config: &RedisConfig) -> Result<Self, RedisError> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| RedisError::Config(e.to_string()))?;
        // Reconnection is retried by the next operations, not by the manager on
        // its own: a failed attempt answers at once, the breaker does the rest.
        let manager = ConnectionManagerConfig::new()
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100))
            .set_connection_timeout(Some(config.op_timeout))
            .set_response_timeout(Some(config.op_timeout));
        let connection = RwLock::new(lazy_manager(&client, &manager)?);
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                manager,
                connection,
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

    /// Runs `op` on a shared connection, unless the circuit is open, within the
    /// operation timeout; the outcome feeds the breaker and the `redis_up` gauge.
    ///
    /// # Errors
    /// [`RedisError::CircuitOpen`], [`RedisError::Timeout`] or [`RedisError::Backend`].
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, redis::RedisError>>,
    {
        if !self.inner.breaker.allow() {
            return Err(RedisError::CircuitOpen);
        }
        self.run_unguarded(op).await
    }

    fn connection(&self) -> Arc<ConnectionManager> {
        self.inner.connection.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces a connection that failed, unless another caller already did.
    fn replace(&self, stale: &Arc<ConnectionManager>) {
        let Ok(fresh) = lazy_manager(&self.inner.client, &self.inner.manager) else { return };
        let mut connection = self.inner.connection.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if Arc::ptr_eq(&connection, stale) {
            *connection = fresh;
        }
    }

    async fn run_unguarded<T, F, Fut>(&self, op: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, redis::RedisError>>,
    {
        let manager = self.connection();
        let mut connection_failed = false;
        let outcome = match tokio::time::timeout(self.inner.op_timeout, op((*manager).clone())).await {
            Ok(result) => result.map_err(|e| {
                // Anything but Redis's own answer (a script error, a wrong type) is the
                // connection's failure: the manager only reconnects by itself on some.
                connection_failed = !matches!(e.kind(), redis::ErrorKind::Server(_));
                if e.is_timeout() { RedisError::Timeout } else { RedisError::Backend(e.to_string()) }
            }),
            Err(_) => {
                connection_failed = true;
                Err(RedisError::Timeout)
            }
        };
        match &outcome {
            Ok(_) => {
                self.inner.breaker.record_success();
                metrics::gauge!("redis_up").set(1.0);
            }
            Err(err) => {
                if connection_failed {
                    self.replace(&manager);
                }
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
            .run_unguarded(|mut conn| async move { redis::cmd("PING").query_async::<String>(&mut conn).await })
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
