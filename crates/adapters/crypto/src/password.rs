use std::sync::{Arc, Mutex, mpsc};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use async_trait::async_trait;
use devora_domain::Password;
use devora_ports::{HashError, PasswordHasher};

/// Argon2id with OWASP's parameters (19 MiB, 2 iterations, 1 lane), the
/// `argon2` crate's defaults. Hashes run on a few threads of their own
/// (`max_concurrent`), so a login flood queues here instead of starving the
/// async workers or exhausting memory (19 MiB each). Those threads run at a
/// lower scheduling priority than the request workers: when both want the CPU,
/// requests go first (a flood of logins barely moves the cached read's latency,
/// docs/benchmarks.md) and hashing takes what is left.
#[derive(Clone)]
pub struct Argon2Hasher {
    jobs: mpsc::Sender<Job>,
    /// A real hash of a random password: unknown accounts are verified against it.
    dummy: Arc<str>,
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' priority: niceness about 10 (SCHED_BATCH), so they get
/// roughly a tenth of a contended core; a request worker (niceness 0) comes first.
fn lower_priority() {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let priority = ThreadPriority::Crossplatform(25u8.try_into().unwrap_or_default());
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    if let Err(err) =
        thread_priority::set_thread_priority_and_policy(thread_priority::thread_native_id(), priority, policy)
    {
        tracing::debug!(error = ?err, "hashing thread keeps the default priority");
    }
}

impl Argon2Hasher {
    /// # Errors
    /// When the dummy hash cannot be computed or a hashing thread cannot start.
    pub fn new(max_concurrent: usize) -> Result<Self, HashError> {
        let random: [u8; 32] = rand_bytes();
        let dummy = Argon2::default().hash_password(&random).map_err(|e| HashError(e.to_string()))?.to_string();
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..max_concurrent.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    // Ends when every sender (the hasher's clones) is gone.
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError(e.to_string()))?;
        }
        Ok(Self { jobs, dummy: dummy.into() })
    }

    async fn blocking<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let (done, result) = tokio::sync::oneshot::channel();
        // A request dropped mid-hash leaves the hash to finish on its thread.
        let job: Job = Box::new(move || {
            let _ = done.send(job());
        });
        self.jobs.send(job).map_err(|_| HashError("hashing threads stopped".into()))?;
        result.await.map_err(|_| HashError("hashing thread failed".into()))
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // uuid's v4 generator draws from a CSPRNG seeded by the OS; two make 32 bytes.
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.expose().to_owned();
        self.blocking(move || Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await?
            .map_err(|e| HashError(e.to_string()))
    }

    async fn verify(&self, candidate: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy.to_string(), str::to_owned);
        let candidate = candidate.to_owned();
        let matched = self
            .blocking(move || match PasswordHash::new(&hash) {
                Ok(parsed) => Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok(),
                Err(_) => false,
            })
            .await?;
        Ok(known && matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let hasher = Argon2Hasher::new(2).unwrap();
        let password = Password::parse("correct horse battery staple").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse battery staple", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse battery staple", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse battery staple", None).await.unwrap());
        assert!(!hasher.verify("anything", Some("not a phc string")).await.unwrap());
        assert_ne!(hasher.hash(&password).await.unwrap(), hash, "fresh salt each time");
    }
}
