//! What accounts and sign-in need from the outside: storage for users, sessions
//! and one-shot OAuth state, password hashing, access tokens, identity providers.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{Email, ExternalIdentity, IdentityProviderId, Password, Role, SessionId, User, UserId, UserName};

/// Storage failed for a reason the caller cannot act on. Either a fault (logged,
/// answered 500) or the store being unavailable for now: unreachable, its pool
/// exhausted, or busy (answered 503: retrying later may succeed).
#[derive(Debug, thiserror::Error)]
#[error("storage {}: {source}", if *.unavailable { "unavailable" } else { "failed" })]
pub struct StorageError {
    unavailable: bool,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StorageError {
    pub fn new(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { unavailable: false, source: err.into() }
    }

    /// The store cannot be reached or cannot take the work now.
    pub fn unavailable(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { unavailable: true, source: err.into() }
    }

    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// Whether `err` or any error in its source chain is an unavailable store.
    #[must_use]
    pub fn is_unavailable_in(err: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(err);
        while let Some(err) = next {
            if err.downcast_ref::<Self>().is_some_and(Self::is_unavailable) {
                return true;
            }
            next = err.source();
        }
        false
    }
}

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

/// Where to send the browser, and what to keep to finish the sign-in.
#[derive(Debug, Clone)]
pub struct AuthorizationRedirect {
    pub url: String,
    pub pkce_verifier: String,
    pub nonce: String,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The provider could not be reached or answered nonsense.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// The provider's answer failed verification (signature, audience, nonce, expiry...).
    #[error("identity rejected: {0}")]
    Rejected(String),
    /// The provider shares no email address we can use.
    #[error("no usable email")]
    NoEmail,
}

#[async_trait]
pub trait IdentityProvider: Send + Sync + 'static {
    fn id(&self) -> IdentityProviderId;

    /// The authorization URL for `state`, with PKCE (S256) and a nonce.
    ///
    /// # Errors
    /// [`IdentityError::Unavailable`] when the provider's metadata cannot be loaded.
    async fn authorize(&self, state: &str, redirect_uri: &str) -> Result<AuthorizationRedirect, IdentityError>;

    /// Trades the code for the verified identity.
    ///
    /// # Errors
    /// [`IdentityError`].
    async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        redirect_uri: &str,
    ) -> Result<ExternalIdentity, IdentityError>;
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Truncated to microseconds, the precision both databases store, so a value
    /// read back equals the value written (cursors and comparisons rely on it).
    fn now(&self) -> DateTime<Utc> {
        use chrono::SubsecRound;
        Utc::now().trunc_subsecs(6)
    }
}
