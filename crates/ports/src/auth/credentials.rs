//! Credentials: password hashes and access tokens.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Password, Role, SessionId, UserId};

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(pub String);

#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    /// A self-describing hash (PHC string) with a fresh salt.
    ///
    /// # Errors
    /// [`HashError`] when the hashing pool is gone.
    async fn hash(&self, password: &Password) -> Result<String, HashError>;

    /// Whether `candidate` matches `hash`. With `None` it checks against a dummy
    /// hash and answers `false`, taking the same time, so unknown accounts cannot
    /// be told from wrong passwords by timing.
    ///
    /// # Errors
    /// [`HashError`] when the hashing pool is gone.
    async fn verify(&self, candidate: &str, hash: Option<&str>) -> Result<bool, HashError>;
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token invalid")]
    Invalid,
}

pub trait AccessTokens: Send + Sync + 'static {
    /// A signed token for the session, and how long it lives.
    ///
    /// # Errors
    /// [`TokenError::Invalid`] if signing fails.
    fn issue(
        &self,
        user_id: UserId,
        session_id: SessionId,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<(String, Duration), TokenError>;

    /// Checks signature, algorithm, issuer, audience and expiry.
    ///
    /// # Errors
    /// [`TokenError`].
    fn verify(&self, token: &str) -> Result<AccessClaims, TokenError>;
}
