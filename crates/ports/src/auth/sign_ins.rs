//! Sign-in state kept between the steps of an OAuth sign-in, and the provider
//! identities linked to accounts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{ExternalIdentity, IdentityProviderId, UserId};

use crate::StorageError;

/// An OAuth sign-in in progress, kept server-side between authorize and callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub provider: IdentityProviderId,
    pub pkce_verifier: String,
    pub nonce: String,
    pub redirect_to: String,
    /// The web app's S256 challenge: only the browser holding its verifier can
    /// trade the login code this sign-in ends with.
    pub client_challenge: String,
    pub expires_at: DateTime<Utc>,
}

/// What a login code was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLoginCode {
    pub user_id: UserId,
    /// The challenge of the browser that started the sign-in.
    pub client_challenge: String,
    /// The identity the provider vouched for.
    pub provider: IdentityProviderId,
    pub subject: String,
}

/// One-shot values and provider identities for OAuth sign-in.
#[async_trait]
pub trait SignInStore: Send + Sync + 'static {
    /// # Errors
    /// [`StorageError`].
    async fn put_pending(
        &self,
        state_hash: &str,
        pending: PendingSignIn,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;

    /// Removes and returns the pending sign-in: once only, and `None` once expired.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn take_pending(&self, state_hash: &str, now: DateTime<Utc>) -> Result<Option<PendingSignIn>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn put_login_code(
        &self,
        code_hash: &str,
        issued: &IssuedLoginCode,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;

    /// Removes and returns what the code was issued for: once only, and `None`
    /// once expired.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn take_login_code(
        &self,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IssuedLoginCode>, StorageError>;

    /// Deletes every unspent login code issued for `user_id` (the account was
    /// taken over: codes issued to the identities it shed must not sign in).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn forget_login_codes(&self, user_id: UserId) -> Result<(), StorageError>;

    /// The user an identity belongs to.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn find_identity(&self, provider: IdentityProviderId, subject: &str) -> Result<Option<UserId>, StorageError>;

    /// Unlinks every identity of `user_id` except `keep` (an account taken over by
    /// its verified owner keeps only the owner's identity).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn unlink_other_identities(&self, user_id: UserId, keep: &ExternalIdentity) -> Result<(), StorageError>;

    /// Links an identity to a user (idempotent for the same user).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn link_identity(
        &self,
        identity: &ExternalIdentity,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError>;
}
