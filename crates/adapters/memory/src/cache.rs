use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use devora_ports::{Cache, CacheError, Versioned, VersionedRead};
use moka::Expiry;
use moka::future::Cache as Moka;

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(&self, _: &String, entry: &Entry, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A bounded in-process cache (moka, TinyLFU eviction) with a TTL per entry.
/// Bounded by the total bytes of keys and values, so memory cannot grow without limit.
#[derive(Clone)]
pub struct MemoryCache {
    inner: Moka<String, Entry>,
    /// Current version per scope. A scope evicted from here simply gets a new
    /// version, so eviction can never revive old entries.
    versions: Moka<String, u64>,
    next_version: Arc<AtomicU64>,
}

fn versioned_key(key: &str, version: u64) -> String {
    format!("{key}#v{version}")
}

impl MemoryCache {
    #[must_use]
    pub fn new(max_bytes: u64) -> Self {
        let inner = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX))
            .expire_after(PerEntryTtl)
            .build();
        let versions = Moka::builder().max_capacity(1_000_000).build();
        Self { inner, versions, next_version: Arc::new(AtomicU64::new(1)) }
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let hit = self.inner.get(key).await.map(|entry| entry.value.to_vec());
        let outcome = if hit.is_some() { "hit" } else { "miss" };
        metrics::counter!("cache_requests_total", "backend" => "in-process", "outcome" => outcome).increment(1);
        Ok(hit)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.inner.insert(key.to_owned(), Entry { value: Arc::from(value), ttl }).await;
        Ok(())
    }

    async fn delete(&self, keys: &[&str]) -> Result<(), CacheError> {
        for key in keys {
            self.inner.invalidate(*key).await;
        }
        Ok(())
    }

    async fn get_versioned(&self, read: &VersionedRead) -> Result<Versioned, CacheError> {
        let next = &self.next_version;
        let version =
            self.versions.get_with_by_ref(read.scope.as_str(), async { next.fetch_add(1, Ordering::Relaxed) }).await;
        if read.held == Some(version) {
            metrics::counter!("cache_requests_total", "backend" => "in-process", "outcome" => "held").increment(1);
            return Ok(Versioned { version, entry: devora_ports::Entry::Held });
        }
        let entry = self.get(&versioned_key(&read.key, version)).await?;
        Ok(Versioned { version, entry: entry.map_or(devora_ports::Entry::Missing, devora_ports::Entry::Value) })
    }

    async fn set_versioned(&self, key: &str, version: u64, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.set(&versioned_key(key, version), value, ttl).await
    }

    async fn bump(&self, scopes: &[&str]) -> Result<(), CacheError> {
        for scope in scopes {
            let version = self.next_version.fetch_add(1, Ordering::Relaxed);
            self.versions.insert((*scope).to_owned(), version).await;
        }
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_reads_and_deletes() {
        let cache = MemoryCache::new(1 << 20);
        assert_eq!(cache.get("k").await.unwrap(), None);
        cache.set("k", b"v", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        cache.delete(&["k", "absent"]).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_bump_hides_what_a_slow_reader_stores_for_the_old_version() {
        let cache = MemoryCache::new(1 << 20);
        let read = |held| VersionedRead { scope: "project:1".into(), key: "project:1".into(), held };
        let first = cache.get_versioned(&read(None)).await.unwrap();
        assert_eq!(first.entry, devora_ports::Entry::Missing);
        // A writer bumps while the reader is still loading the old row...
        cache.bump(&["project:1"]).await.unwrap();
        // ...which the reader then stores under the version it read.
        cache.set_versioned("project:1", first.version, b"old", Duration::from_secs(60)).await.unwrap();
        let second = cache.get_versioned(&read(Some(first.version))).await.unwrap();
        assert_ne!(first.version, second.version);
        assert_eq!(second.entry, devora_ports::Entry::Missing, "the stale value is unreachable, even to its holder");
        cache.set_versioned("project:1", second.version, b"new", Duration::from_secs(60)).await.unwrap();
        let third = cache.get_versioned(&read(None)).await.unwrap();
        assert_eq!(third.entry, devora_ports::Entry::Value(b"new".to_vec()));
        let held = cache.get_versioned(&read(Some(second.version))).await.unwrap();
        assert_eq!(held.entry, devora_ports::Entry::Held, "a holder of the current version is not sent it again");
    }

    #[tokio::test]
    async fn entries_expire_after_their_own_ttl() {
        let cache = MemoryCache::new(1 << 20);
        cache.set("short", b"1", Duration::from_millis(50)).await.unwrap();
        cache.set("long", b"2", Duration::from_secs(60)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get("short").await.unwrap(), None);
        assert!(cache.get("long").await.unwrap().is_some());
    }
}
