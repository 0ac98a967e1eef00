use std::time::Duration;

use async_trait::async_trait;
use deadpool_redis::redis::AsyncCommands;
use devora_ports::{Cache, CacheError};

use crate::store::RedisStore;

/// The cache port over Redis: `GET`, `SET PX`, `DEL` under `<prefix>cache:<key>`.
#[derive(Clone)]
pub struct RedisCache {
    store: RedisStore,
}

impl RedisCache {
    #[must_use]
    pub fn new(store: RedisStore) -> Self {
        Self { store }
    }
}

fn outcome(label: &'static str) {
    metrics::counter!("cache_requests_total", "backend" => "redis", "outcome" => label).increment(1);
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = self.store.key(&["cache", key]);
        let result = self.store.run(|mut conn| async move { conn.get::<_, Option<Vec<u8>>>(key).await }).await;
        match result {
            Ok(Some(value)) => {
                outcome("hit");
                Ok(Some(value))
            }
            Ok(None) => {
                outcome("miss");
                Ok(None)
            }
            Err(err) => {
                outcome("error");
                Err(CacheError::Unavailable(err.to_string()))
            }
        }
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let key = self.store.key(&["cache", key]);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let value = value.to_vec();
        self.store
            .run(|mut conn| async move {
                deadpool_redis::redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await
            .map_err(|e| CacheError::Unavailable(e.to_string()))
    }

    async fn delete(&self, keys: &[&str]) -> Result<(), CacheError> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.store.key(&["cache", k])).collect();
        self.store
            .run(|mut conn| async move { conn.del::<_, ()>(keys).await })
            .await
            .map_err(|e| CacheError::Unavailable(e.to_string()))
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
