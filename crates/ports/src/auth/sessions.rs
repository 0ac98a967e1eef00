//! Sessions and their refresh-token families.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{IdentityProviderId, SessionId, UserId};

use crate::StorageError;

/// A sign-in on one device. Its refresh tokens form one family: presenting a
/// spent one revokes the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// Last refresh; the idle timeout runs from here.
    pub last_used_at: DateTime<Utc>,
    /// Absolute end of the session, however active.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

impl Session {
    /// Alive: not revoked, before its absolute end, used within `idle_timeout`.
    #[must_use]
    pub fn is_alive(&self, now: DateTime<Utc>, idle_timeout: Duration) -> bool {
        let idle = chrono::Duration::from_std(idle_timeout).unwrap_or(chrono::Duration::MAX);
        self.revoked_at.is_none() && now < self.expires_at && now < self.last_used_at + idle
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The hash of the session's first refresh token.
    pub refresh_hash: String,
    /// What the sign-in proved; the session is created only if it still holds.
    pub proof: SignInProof,
}

/// What a sign-in proved. Its session is created, under the account's row lock,
/// only if that still holds, so a password change, a suspension or an account
/// takeover that lands while the sign-in is being checked cannot be outlived by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInProof {
    /// The password with this hash was checked.
    Password(String),
    /// The provider vouched for this identity, linked to the account.
    Identity { provider: IdentityProviderId, subject: String },
    /// Nothing to check again: this sign-in created the account.
    NewAccount,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and `new_hash` is the family's live token.
    Rotated(Session),
    /// The token was spent moments ago (within the grace, two tabs refreshing at
    /// once): `new_hash` was added to the family too.
    WithinGrace(Session),
    /// The token was spent before the grace: the whole family (session) is revoked.
    ReuseDetected(SessionId),
    /// Unknown token, or its session is revoked, expired or idle.
    Invalid,
}

#[async_trait]
pub trait SessionRepository: Send + Sync + 'static {
    /// Stores the session and its first refresh token, in one transaction that
    /// first locks the account's row; `None` when the account is gone, suspended,
    /// or the sign-in's proof no longer holds (the password changed, the identity
    /// was unlinked).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn create(&self, session: NewSession) -> Result<Option<Session>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn find(&self, id: SessionId) -> Result<Option<Session>, StorageError>;

    /// Spends `presented_hash` and adds `new_hash` to its family, atomically, so
    /// concurrent presentations of one token rotate it once.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn rotate(
        &self,
        presented_hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
        grace: Duration,
        idle_timeout: Duration,
    ) -> Result<Rotation, StorageError>;

    /// The user's sessions that are not revoked or past their absolute end, newest first.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn list_alive(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<Session>, StorageError>;

    /// Revokes one of `user_id`'s sessions; `false` when there is no such live session.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn revoke(&self, id: SessionId, user_id: UserId, now: DateTime<Utc>) -> Result<bool, StorageError>;

    /// Revokes the session a refresh token belongs to (logout); its id, if any.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn revoke_by_refresh(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<SessionId>, StorageError>;

    /// Revokes every live session of the user but `except`; the revoked ids.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn revoke_all(
        &self,
        user_id: UserId,
        except: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StorageError>;
}
