//! Accounts: who can sign in.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Email, Role, User, UserId, UserName};

use crate::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// Another account has this email (compared normalised).
    #[error("email already registered")]
    DuplicateEmail,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub password_hash: Option<String>,
    pub role: Role,
    pub email_verified: bool,
    pub now: DateTime<Utc>,
}

#[async_trait]
pub trait UserRepository: Send + Sync + 'static {
    /// # Errors
    /// [`CreateUserError::DuplicateEmail`] when the email is taken.
    async fn create(&self, user: NewUser) -> Result<User, CreateUserError>;

    /// # Errors
    /// [`StorageError`].
    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StorageError>;

    /// The user with this email and their password hash, in one read (so a known
    /// email costs the same as an unknown one before the hash check).
    ///
    /// # Errors
    /// [`StorageError`].
    async fn find_credentials(&self, email: &Email) -> Result<Option<(User, Option<String>)>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn set_role(&self, id: UserId, role: Role, now: DateTime<Utc>) -> Result<(), StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn set_status(
        &self,
        id: UserId,
        status: devora_domain::UserStatus,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError>;

    /// The stored password hash; `None` for OAuth-only accounts. Read only by the
    /// credential check.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn password_hash(&self, id: UserId) -> Result<Option<String>, StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn update_name(&self, id: UserId, name: &UserName, now: DateTime<Utc>) -> Result<Option<User>, StorageError>;

    /// Replaces the password hash only if it is still `expected` (the one the
    /// caller verified); `false` when it changed meanwhile.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError>;

    /// Replaces (or with `None` removes) the password hash.
    ///
    /// # Errors
    /// [`StorageError`].
    async fn set_password_hash(&self, id: UserId, hash: Option<&str>, now: DateTime<Utc>) -> Result<(), StorageError>;

    /// # Errors
    /// [`StorageError`].
    async fn mark_email_verified(&self, id: UserId, now: DateTime<Utc>) -> Result<(), StorageError>;
}
