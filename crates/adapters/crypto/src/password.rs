use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use async_trait::async_trait;
use devora_domain::Password;
use devora_ports::{HashError, PasswordHasher};
use tokio::sync::Semaphore;

/// Argon2id with OWASP's parameters (19 MiB, 2 iterations, 1 lane), the
/// `argon2` crate's defaults. Each hash runs on Tokio's blocking pool, and a
/// semaphore bounds how many run at once, so a login flood queues here instead
/// of starving the async workers or exhausting memory (19 MiB each).
#[derive(Clone)]
pub struct Argon2Hasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password: unknown accounts are verified against it.
    dummy: Arc<str>,
}

impl Argon2Hasher {
    /// # Errors
    /// When the dummy hash cannot be computed.
    pub fn new(max_concurrent: usize) -> Result<Self, HashError> {
        let random: [u8; 32] = rand_bytes();
        let dummy = Argon2::default().hash_password(&random).map_err(|e| HashError(e.to_string()))?.to_string();
        Ok(Self { permits: Arc::new(Semaphore::new(max_concurrent.max(1))), dummy: dummy.into() })
    }

    async fn blocking<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| HashError("hashing pool closed".into()))?;
        // The permit lives inside the blocking task: if the request is dropped
        // mid-hash, the slot stays taken until the hash really ends.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job()
        })
        .await
        .map_err(|e| HashError(e.to_string()))
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // uuid's v4 generator draws from the OS RNG; two of them make 32 bytes.
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
