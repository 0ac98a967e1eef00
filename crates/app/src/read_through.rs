//! Cache-aside reads through the cache port: versioned entries (so invalidation
//! is race-free on every node), single flight (so a hot miss loads once per
//! node) and an in-process tier of decoded values, each kept with the version it
//! was read at.
//!
//! The in-process tier is served only once the scope's current version has been
//! confirmed for this request: by the request gate, which confirms the versions
//! of what a request will read in the same round trip as its rate-limit check
//! ([`Confirmed`]), or else by the cache's own versioned read, which then does
//! not send a value the node already holds. No node therefore serves a value
//! from before a write another node acknowledged.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devora_ports::{Cache, Entry, StorageError, Versioned, VersionedRead};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde::Serialize;
use serde::de::DeserializeOwned;

type Flight = Shared<BoxFuture<'static, Result<Arc<Vec<u8>>, Arc<StorageError>>>>;
type Flights = Mutex<HashMap<String, (u64, Flight)>>;

/// Bytes of encoded values the in-process tier of one service keeps at most.
const LOCAL_TIER_BYTES: u64 = 16 * 1024 * 1024;

/// A decoded value and the version of its scope it was read at.
#[derive(Clone)]
struct Held {
    version: u64,
    value: Arc<dyn Any + Send + Sync>,
    weight: u32,
}

tokio::task_local! {
    static CONFIRMED: RefCell<HashMap<String, (String, Versioned)>>;
}

/// The gate's answers for one request's reads, by key (with the key's scope). Run
/// the request inside [`Confirmed::scope`].
#[derive(Debug, Default)]
pub struct Confirmed(HashMap<String, (String, Versioned)>);

impl Confirmed {
    /// Pairs each read with its answer (in order); extra answers are ignored.
    #[must_use]
    pub fn new(reads: Vec<VersionedRead>, answers: Vec<Versioned>) -> Self {
        Self(reads.into_iter().zip(answers).map(|(read, answer)| (read.key, (read.scope, answer))).collect())
    }

    /// Runs `f` with these answers available to every read it makes.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        if self.0.is_empty() {
            return f.await;
        }
        CONFIRMED.scope(RefCell::new(self.0), f).await
    }

    /// This request's confirmed answer for `key`, taken (each is used once).
    fn take(key: &str) -> Option<Versioned> {
        CONFIRMED.try_with(|map| map.borrow_mut().remove(key)).ok().flatten().map(|(_, answer)| answer)
    }

    /// Drops this request's answers for `scopes`: the request has just written
    /// them, so what the gate said before is no longer the current version.
    fn forget(scopes: &[&str]) {
        let _ = CONFIRMED.try_with(|map| map.borrow_mut().retain(|_, (scope, _)| !scopes.contains(&scope.as_str())));
    }
}

#[derive(Clone)]
pub struct ReadThrough {
    cache: Arc<dyn Cache>,
    local: moka::sync::Cache<String, Held>,
    flights: Arc<Flights>,
    next_flight: Arc<std::sync::atomic::AtomicU64>,
}

impl ReadThrough {
    #[must_use]
    pub fn new(cache: Arc<dyn Cache>) -> Self {
        let local = moka::sync::Cache::builder()
            .max_capacity(LOCAL_TIER_BYTES)
            .weigher(|key: &String, held: &Held| held.weight.saturating_add(u32::try_from(key.len()).unwrap_or(0)))
            .time_to_idle(Duration::from_secs(600))
            .build();
        Self { cache, local, flights: Arc::default(), next_flight: Arc::default() }
    }

    /// The read of `key` in `scope`, naming the version this node holds, for the
    /// request gate to answer ahead of the request.
    #[must_use]
    pub fn read_of(&self, scope: &str, key: &str) -> VersionedRead {
        Self::read(scope, key, self.local.get(key).as_ref())
    }

    fn read(scope: &str, key: &str, held: Option<&Held>) -> VersionedRead {
        VersionedRead { scope: scope.to_owned(), key: key.to_owned(), held: held.map(|h| h.version) }
    }

    fn keep<T: Send + Sync + 'static>(&self, key: &str, version: u64, value: T, encoded_len: usize) {
        let weight = u32::try_from(encoded_len).unwrap_or(u32::MAX);
        self.local.insert(key.to_owned(), Held { version, value: Arc::new(value), weight });
    }

    /// The value cached for `key` in the current version of `scope`, or `load`ed,
    /// cached and returned. When the cache is unavailable, `load` runs directly.
    ///
    /// # Errors
    /// The loader's error.
    pub async fn get<T, F, Fut>(&self, scope: &str, key: &str, ttl: Duration, load: F) -> Result<T, StorageError>
    where
        T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        // What this node holds for `key`, looked up once for the read and its answer.
        let held = self.local.get(key);
        let answer = match Confirmed::take(key) {
            Some(answer) => answer,
            None => match self.cache.get_versioned(&Self::read(scope, key, held.as_ref())).await {
                Ok(answer) => answer,
                Err(_) => return load().await,
            },
        };
        let version = answer.version;
        match answer.entry {
            Entry::Held => {
                let value = held.filter(|h| h.version == version).and_then(|h| h.value.downcast_ref::<T>().cloned());
                if let Some(value) = value {
                    return Ok(value);
                }
            }
            Entry::Value(bytes) => {
                // An entry from an older release fails to decode: reload over it.
                if let Ok(value) = serde_json::from_slice::<T>(&bytes) {
                    self.keep(key, version, value.clone(), bytes.len());
                    return Ok(value);
                }
            }
            Entry::Missing => {}
        }
        let bytes = self.load_once(key, version, ttl, load).await?;
        let value: T = serde_json::from_slice(&bytes).map_err(StorageError::new)?;
        self.keep(key, version, value.clone(), bytes.len());
        Ok(value)
    }

    /// Loads `key` for `version` once per node however many ask at once, and
    /// stores it in the shared cache under that version.
    async fn load_once<T, F, Fut>(
        &self,
        key: &str,
        version: u64,
        ttl: Duration,
        load: F,
    ) -> Result<Arc<Vec<u8>>, StorageError>
    where
        T: Serialize + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
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
        flight.await.map_err(|e| {
            if e.is_unavailable() { StorageError::unavailable(e.to_string()) } else { StorageError::new(e.to_string()) }
        })
    }

    /// Invalidates scopes on every node. A failure is logged: the adapter keeps
    /// the bump pending and will not serve those scopes until it succeeds.
    pub async fn invalidate(&self, scopes: &[&str]) {
        Confirmed::forget(scopes);
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
        async fn get_versioned(&self, _: &VersionedRead) -> Result<Versioned, CacheError> {
            Ok(Versioned { version: 1, entry: Entry::Missing })
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

    #[tokio::test]
    async fn a_request_that_writes_a_scope_does_not_use_what_the_gate_said_of_it() {
        let reads = ReadThrough::new(Arc::new(AlwaysMiss));
        let read = |scope: &str| VersionedRead { scope: scope.into(), key: scope.into(), held: None };
        let answer = |version| Versioned { version, entry: Entry::Value(b"7".to_vec()) };
        let confirmed = Confirmed::new(vec![read("a"), read("b")], vec![answer(9), answer(9)]);
        let (a, b) = confirmed
            .scope(async {
                reads.invalidate(&["a"]).await;
                let load = || async { Ok::<_, StorageError>(1u32) };
                let ttl = Duration::from_secs(60);
                (reads.get("a", "a", ttl, load).await.unwrap(), reads.get("b", "b", ttl, load).await.unwrap())
            })
            .await;
        assert_eq!(a, 1, "written in this request: read again, not the gate's answer");
        assert_eq!(b, 7, "untouched: the gate's answer");
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
