use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use devora_ports::{Cache, CacheError, Entry, Versioned, VersionedRead};
use redis::{AsyncCommands, Script};

use crate::scripts;
use crate::store::RedisStore;

/// How long a bumped scope's version lives; far longer than any entry.
const VERSION_TTL_SECS: u64 = 7 * 24 * 3600;
/// A version allocated by a read (nothing was ever written to the scope) only has
/// to outlive the entries stored under it (6 h at most), so probes of random ids
/// cannot pile up week-long keys.
pub(crate) const READ_VERSION_TTL_SECS: u64 = 7 * 3600;

/// Gives each scope (all keys but the last, the counter) a new, never-used version.
const BUMP: &str = r"
for i = 1, #KEYS - 1 do
  local v = redis.call('INCR', KEYS[#KEYS])
  redis.call('SET', KEYS[i], v, 'EX', ARGV[1])
end
return #KEYS - 1
";

/// The cache port over Redis: `GET`, `SET PX`, `DEL` under `<prefix>cache:<key>`,
/// and versioned entries (`<prefix>ver:<scope>` holds the version).
#[derive(Clone)]
pub struct RedisCache {
    store: RedisStore,
    gate: Arc<Script>,
    bump: Arc<Script>,
    /// Scopes whose bump failed (Redis unreachable), each with the sequence of its
    /// latest failure: bumped before this node serves any versioned entry again,
    /// so it never serves what it failed to invalidate. A flush removes a scope
    /// only if no newer failure was recorded meanwhile.
    pending_bumps: Arc<Mutex<HashMap<String, u64>>>,
    failure_seq: Arc<std::sync::atomic::AtomicU64>,
}

impl RedisCache {
    /// Builds the cache and, inside a Tokio runtime, a task that retries failed
    /// invalidations every 250 ms, so after an outage other nodes stop seeing
    /// entries this node meant to invalidate within the breaker's cooldown. The
    /// task ends when the cache is dropped.
    #[must_use]
    pub fn new(store: RedisStore) -> Self {
        let cache = Self {
            store,
            gate: Arc::new(Script::new(&scripts::gate())),
            bump: Arc::new(Script::new(BUMP)),
            pending_bumps: Arc::default(),
            failure_seq: Arc::default(),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pending = Arc::downgrade(&cache.pending_bumps);
            let retry = Self { pending_bumps: Arc::default(), ..cache.clone() };
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    let Some(pending) = pending.upgrade() else { return };
                    let retry = RedisCache { pending_bumps: pending, ..retry.clone() };
                    // Failures stay pending for the next tick.
                    let _ = retry.flush_pending().await;
                }
            });
        }
        cache
    }

    async fn run_bump(&self, scopes: &[String]) -> Result<(), CacheError> {
        let mut keys: Vec<String> = scopes.iter().map(|s| self.store.key(&["ver", s])).collect();
        keys.push(self.store.key(&["ver-counter"]));
        let script = self.bump.clone();
        self.store
            .run(|mut conn| async move {
                let mut invocation = script.prepare_invoke();
                for key in keys {
                    invocation.key(key);
                }
                invocation.arg(VERSION_TTL_SECS).invoke_async::<i64>(&mut conn).await
            })
            .await
            .map(|_| ())
            .map_err(|e| CacheError::Unavailable(e.to_string()))
    }

    pub(crate) fn gate_script(&self) -> &Script {
        &self.gate
    }

    pub(crate) fn store(&self) -> &RedisStore {
        &self.store
    }

    pub(crate) fn version_key(&self, scope: &str) -> String {
        self.store.key(&["ver", scope])
    }

    pub(crate) fn counter_key(&self) -> String {
        self.store.key(&["ver-counter"])
    }

    pub(crate) fn data_key(&self, key: &str) -> String {
        self.store.key(&["cache", key])
    }

    /// Retries bumps that failed earlier; until they succeed, versioned reads fail.
    pub(crate) async fn flush_pending(&self) -> Result<(), CacheError> {
        let pending: Vec<(String, u64)> = match self.pending_bumps.lock() {
            Ok(map) if map.is_empty() => return Ok(()),
            Ok(map) => map.iter().map(|(scope, seq)| (scope.clone(), *seq)).collect(),
            Err(_) => return Err(CacheError::Unavailable("pending bumps lock poisoned".into())),
        };
        let scopes: Vec<String> = pending.iter().map(|(scope, _)| scope.clone()).collect();
        self.run_bump(&scopes).await?;
        if let Ok(mut map) = self.pending_bumps.lock() {
            for (scope, seq) in pending {
                if map.get(&scope) == Some(&seq) {
                    map.remove(&scope);
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn entry_outcome(entry: &Entry) -> &'static str {
    match entry {
        Entry::Missing => "miss",
        Entry::Held => "held",
        Entry::Value(_) => "hit",
    }
}

pub(crate) fn outcome(label: &'static str) {
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
                redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ttl_ms).query_async::<()>(&mut conn).await
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

    async fn get_versioned(&self, read: &VersionedRead) -> Result<Versioned, CacheError> {
        let mut passage = self.pass(None, std::slice::from_ref(read)).await?;
        passage.reads.pop().ok_or_else(|| CacheError::Unavailable("no answer for the read".into()))
    }

    async fn set_versioned(&self, key: &str, version: u64, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.set(&format!("{key}#v{version}"), value, ttl).await
    }

    async fn bump(&self, scopes: &[&str]) -> Result<(), CacheError> {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        match self.run_bump(&scopes).await {
            Ok(()) => Ok(()),
            Err(err) => {
                let seq = self.failure_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Ok(mut pending) = self.pending_bumps.lock() {
                    for scope in scopes {
                        pending.insert(scope, seq);
                    }
                }
                Err(err)
            }
        }
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}
