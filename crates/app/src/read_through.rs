//! Cache-aside reads through the cache port: versioned entries (so invalidation
//! is race-free on every node) and single flight (so a hot miss loads once per node).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devora_ports::{Cache, StorageError};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde::Serialize;
use serde::de::DeserializeOwned;

type Flight = Shared<BoxFuture<'static, Result<Arc<Vec<u8>>, Arc<StorageError>>>>;
type Flights = Mutex<HashMap<String, (u64, Flight)>>;

#[derive(Clone)]
pub struct ReadThrough {
    cache: Arc<dyn Cache>,
    flights: Arc<Flights>,
    next_flight: Arc<std::sync::atomic::AtomicU64>,
}

impl ReadThrough {
    #[must_use]
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        Self { cache, flights: Arc::default(), next_flight: Arc::default() }
    }

    /// The value cached for `key` in the current version of `scope`, or `load`ed,
    /// cached and returned. When the cache is unavailable, `load` runs directly.
    ///
    /// # Errors
    /// The loader's error.
    pub async fn get<T, F, Fut>(&self, scope: &str, key: &str, ttl: Duration, load: F) -> Result<T, StorageError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        let version = match self.cache.get_versioned(scope, key).await {
            Ok((version, Some(bytes))) => match serde_json::from_slice(&bytes) {
                Ok(value) => return Ok(value),
                // An entry from an older release: reload over it.
                Err(_) => version,
            },
            Ok((version, None)) => version,
            Err(_) => return load().await,
        };
        let flight_key = format!("{key}#v{version}");
        let flight = {
            let mut flights = self.flights.lock().map_err(|_| StorageError::new("single-flight lock poisoned"))?;
            match flights.get(&flight_key) {
                Some((_, flight)) => flight.clone(),
                None => {
                    let id = self.next_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let cache = self.cache.clone();
                    let owned_key = key.to_owned();
                    let registry = Arc::downgrade(&self.flights);
                    let map_key = flight_key.clone();
                    // The load runs as its own task: a caller that goes away (client
                    // disconnect) neither strands it holding a connection nor leaves
                    // its entry behind; the task removes its own entry when done.
                    let task = tokio::spawn(async move {
                        let result = async {
                            let value = load().await.map_err(Arc::new)?;
                            let bytes = serde_json::to_vec(&value).map_err(|e| Arc::new(StorageError::new(e)))?;
                            if let Err(err) = cache.set_versioned(&owned_key, version, &bytes, ttl).await {
                                tracing::debug!(error = %err, "not cached");
                            }
                            Ok(Arc::new(bytes))
                        }
                        .await;
                        if let Some(registry) = registry.upgrade()
                            && let Ok(mut map) = registry.lock()
                            && map.get(&map_key).is_some_and(|(flight_id, _)| *flight_id == id)
                        {
                            map.remove(&map_key);
                        }
                        result
                    });
                    let flight: Flight =
                        async move { task.await.map_err(|e| Arc::new(StorageError::new(e)))? }.boxed().shared();
                    flights.insert(flight_key.clone(), (id, flight.clone()));
                    flight
                }
            }
        };
        // Every waiter gets the flight's failure, of the same kind (unavailable or not).
        let bytes = flight.await.map_err(|e| {
            if e.is_unavailable() { StorageError::unavailable(e.to_string()) } else { StorageError::new(e.to_string()) }
        })?;
        serde_json::from_slice(&bytes).map_err(StorageError::new)
    }

    /// Invalidates scopes on every node. A failure is logged: the adapter keeps
    /// the bump pending and will not serve those scopes until it succeeds.
    pub async fn invalidate(&self, scopes: &[&str]) {
        if let Err(err) = self.cache.bump(scopes).await {
            tracing::warn!(error = %err, ?scopes, "cache invalidation deferred");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use devora_ports::CacheError;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A cache that always misses at version 1 and remembers nothing.
    struct AlwaysMiss;

    #[async_trait]
    impl Cache for AlwaysMiss {
        async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, CacheError> {
            Ok(None)
        }
        async fn set(&self, _: &str, _: &[u8], _: Duration) -> Result<(), CacheError> {
            Ok(())
        }
        async fn delete(&self, _: &[&str]) -> Result<(), CacheError> {
            Ok(())
        }
        async fn get_versioned(&self, _: &str, _: &str) -> Result<(u64, Option<Vec<u8>>), CacheError> {
            Ok((1, None))
        }
        async fn set_versioned(&self, _: &str, _: u64, _: &[u8], _: Duration) -> Result<(), CacheError> {
            Ok(())
        }
        async fn bump(&self, _: &[&str]) -> Result<(), CacheError> {
            Ok(())
        }
        fn backend(&self) -> &'static str {
            "test"
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_load_finishes_and_leaves_no_entry() {
        let reads = ReadThrough::new(Arc::new(AlwaysMiss));
        let finished = Arc::new(AtomicU32::new(0));
        let done = finished.clone();
        let caller = tokio::spawn({
            let reads = reads.clone();
            async move {
                reads
                    .get("s", "k", Duration::from_secs(60), move || async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        done.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, StorageError>(1u32)
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        caller.abort(); // the client went away mid-load
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the load ran to completion");
        assert!(reads.flights.lock().unwrap().is_empty(), "and removed its entry");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_hot_miss_loads_once() {
        let reads = ReadThrough::new(Arc::new(AlwaysMiss));
        let loads = Arc::new(AtomicU32::new(0));
        let calls = (0..50).map(|_| {
            let loads = loads.clone();
            let reads = reads.clone();
            tokio::spawn(async move {
                reads
                    .get("s", "k", Duration::from_secs(60), move || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok::<_, StorageError>(42u32)
                    })
                    .await
            })
        });
        for call in futures_util::future::join_all(calls).await {
            assert_eq!(call.unwrap().unwrap(), 42);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_waiter_sees_an_unavailable_store_as_unavailable() {
        let reads = ReadThrough::new(Arc::new(AlwaysMiss));
        let calls = (0..5).map(|_| {
            let reads = reads.clone();
            tokio::spawn(async move {
                reads
                    .get("s", "k", Duration::from_secs(60), || async {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err::<u32, _>(StorageError::unavailable("pool timed out"))
                    })
                    .await
            })
        });
        for call in futures_util::future::join_all(calls).await {
            assert!(call.unwrap().unwrap_err().is_unavailable());
        }
        let fault = reads
            .get("s", "other", Duration::from_secs(60), || async { Err::<u32, _>(StorageError::new("bad row")) })
            .await;
        assert!(!fault.unwrap_err().is_unavailable());
    }
}
