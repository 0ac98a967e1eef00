//! Accounts and sign-in: registration, password login, rotating refresh tokens,
//! sessions, and Google/GitHub sign-in ending in a one-time login code.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use devora_domain::{
    Email, ExternalIdentity, IdentityProviderId, Password, Role, SessionId, User, UserId, UserName, UserStatus,
};
use devora_ports::{
    AccessClaims, AccessTokens, Cache, Clock, CreateUserError, IdentityError, IdentityProvider, IssuedLoginCode,
    NewSession, NewUser, PasswordHasher, PendingSignIn, Rotation, Session, SessionRepository, SignInProof, SignInStore,
    StorageError, TokenError, UserRepository,
};
use sha2::{Digest, Sha256};

use crate::read_through::ReadThrough;

/// Tunables of accounts and sign-in.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// A session dies when not refreshed for this long.
    pub session_idle_timeout: Duration,
    /// A session dies this long after sign-in, however active.
    pub session_lifetime: Duration,
    /// A just-spent refresh token still works this long (two tabs refreshing at once).
    pub refresh_grace: Duration,
    /// How long a session's state may be served from the cache.
    pub session_cache_ttl: Duration,
    pub oauth_state_ttl: Duration,
    pub login_code_ttl: Duration,
    /// Emails that get the admin role when their account is created.
    pub admin_emails: Vec<Email>,
    /// Base of the OAuth callback URLs (`{public_url}/api/v2/auth/oauth/{provider}/callback`).
    pub public_url: String,
    /// Where the web app lives: the default and the base for relative `redirect_to`.
    pub frontend_url: String,
    /// Origins `redirect_to` may point at.
    pub redirect_origins: Vec<String>,
}

/// The request's origin, recorded on the session it creates.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
}

#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub tokens: TokenPair,
}

/// The caller, once its access token and session are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email or wrong password: deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account suspended")]
    Suspended,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("refresh token invalid")]
    Invalid,
    /// A spent token was presented again: the session is revoked.
    #[error("refresh token reused; session revoked")]
    Reused,
    #[error("account suspended")]
    Suspended,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("access token expired")]
    Expired,
    #[error("access token invalid")]
    Invalid,
    /// The token is genuine but its session is revoked or its user suspended.
    #[error("session revoked")]
    Revoked,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("current password is wrong")]
    WrongPassword,
    #[error("this account has no password")]
    NoPassword,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthStartError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("redirect_to is not allowed")]
    RedirectNotAllowed,
    #[error("code_challenge is not an S256 challenge")]
    InvalidChallenge,
    #[error("provider unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("login code invalid, used or expired")]
    Invalid,
    #[error("account suspended")]
    Suspended,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A failure the client cannot act on: logged with its cause, answered 500.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InternalError(#[source] Box<dyn std::error::Error + Send + Sync>);

impl From<StorageError> for InternalError {
    fn from(err: StorageError) -> Self {
        Self(Box::new(err))
    }
}

impl From<devora_ports::HashError> for InternalError {
    fn from(err: devora_ports::HashError) -> Self {
        Self(Box::new(err))
    }
}

impl From<TokenError> for InternalError {
    fn from(err: TokenError) -> Self {
        Self(Box::new(err))
    }
}

macro_rules! internal_from {
    ($($err:ty),*) => {$(
        impl From<StorageError> for $err {
            fn from(err: StorageError) -> Self {
                Self::Internal(err.into())
            }
        }
        impl From<devora_ports::HashError> for $err {
            fn from(err: devora_ports::HashError) -> Self {
                Self::Internal(err.into())
            }
        }
        impl From<TokenError> for $err {
            fn from(err: TokenError) -> Self {
                Self::Internal(err.into())
            }
        }
    )*};
}

internal_from!(
    RegisterError,
    LoginError,
    RefreshError,
    AuthenticateError,
    ChangePasswordError,
    OAuthStartError,
    ExchangeError
);

/// The adapters accounts need.
#[derive(Clone)]
pub struct AuthPorts {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub sign_ins: Arc<dyn SignInStore>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn AccessTokens>,
    pub cache: Arc<dyn Cache>,
    pub clock: Arc<dyn Clock>,
    pub providers: Vec<Arc<dyn IdentityProvider>>,
}

#[derive(Clone)]
pub struct AuthService {
    ports: AuthPorts,
    reads: ReadThrough,
    providers: BTreeMap<&'static str, Arc<dyn IdentityProvider>>,
    config: Arc<AuthConfig>,
}

/// 256 random bits, URL-safe base64: refresh tokens, OAuth state, login codes.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// PKCE's S256 (RFC 7636): base64url, unpadded, of the verifier's SHA-256.
fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An S256 challenge: 43 base64url characters (a SHA-256 digest).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What is stored for a bearer secret: its SHA-256, hex. The secret itself is
/// never stored, so a database leak yields nothing presentable.
fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn session_cache_key(id: SessionId) -> String {
    format!("session:{id}")
}

fn plus(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl AuthService {
    #[must_use]
    pub fn new(ports: AuthPorts, config: AuthConfig) -> Self {
        let providers = ports.providers.iter().map(|p| (p.id().as_str(), p.clone())).collect();
        let reads = ReadThrough::new(ports.cache.clone());
        Self { ports, reads, providers, config: Arc::new(config) }
    }

    #[must_use]
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// `ADMIN_EMAILS` grants the admin role only to an address someone proved to
    /// own (a provider-verified email); registering an address proves nothing.
    /// Password accounts are made admins with `devora-server create-admin`.
    fn role_for(&self, email: &Email, verified: bool) -> Role {
        if verified && self.config.admin_emails.contains(email) { Role::Admin } else { Role::User }
    }

    /// Signs `user` in; `None` when the account changed under the sign-in (what
    /// it proved no longer holds, or the account is suspended or gone).
    async fn start_session(
        &self,
        user: &User,
        meta: &ClientMeta,
        proof: SignInProof,
    ) -> Result<Option<TokenPair>, InternalError> {
        let now = self.ports.clock.now();
        let refresh_token = random_token();
        let Some(session) = self
            .ports
            .sessions
            .create(NewSession {
                id: SessionId::new(),
                user_id: user.id,
                now,
                expires_at: plus(now, self.config.session_lifetime),
                user_agent: meta.user_agent.as_ref().map(|ua| ua.chars().take(255).collect()),
                ip: meta.ip.clone(),
                refresh_hash: secret_hash(&refresh_token),
                proof,
            })
            .await?
        else {
            return Ok(None);
        };
        let (access_token, expires_in) = self.ports.tokens.issue(user.id, session.id, user.role, now)?;
        Ok(Some(TokenPair { access_token, refresh_token, expires_in }))
    }

    /// Creates an account with a password and signs it in.
    ///
    /// # Errors
    /// [`RegisterError::EmailTaken`].
    pub async fn register(
        &self,
        email: Email,
        password: Password,
        name: UserName,
        meta: &ClientMeta,
    ) -> Result<SignedIn, RegisterError> {
        if self.ports.users.find_by_email(&email).await?.is_some() {
            return Err(RegisterError::EmailTaken);
        }
        let hash = self.ports.hasher.hash(&password).await?;
        let role = self.role_for(&email, false);
        let user = match self
            .ports
            .users
            .create(NewUser {
                id: UserId::new(),
                email,
                name,
                password_hash: Some(hash),
                role,
                email_verified: false,
                now: self.ports.clock.now(),
            })
            .await
        {
            Ok(user) => user,
            Err(CreateUserError::DuplicateEmail) => return Err(RegisterError::EmailTaken),
            Err(CreateUserError::Storage(err)) => return Err(err.into()),
        };
        let tokens = self
            .start_session(&user, meta, SignInProof::NewAccount)
            .await?
            .ok_or_else(|| InternalError::from(StorageError::new("the new account vanished while signing in")))?;
        Ok(SignedIn { user, tokens })
    }

    /// Checks an email and password. Unknown emails are checked against a dummy
    /// hash, so they answer exactly like wrong passwords, in about the same time.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] or [`LoginError::Suspended`].
    pub async fn login(&self, email: &str, password: &str, meta: &ClientMeta) -> Result<SignedIn, LoginError> {
        let (user, hash) = match Email::parse(email) {
            Ok(email) => self.ports.users.find_credentials(&email).await?.map_or((None, None), |(u, h)| (Some(u), h)),
            Err(_) => (None, None),
        };
        let matches = self.ports.hasher.verify(password, hash.as_deref()).await?;
        let (Some(user), true) = (user, matches) else {
            metrics::counter!("auth_logins_total", "outcome" => "invalid").increment(1);
            return Err(LoginError::InvalidCredentials);
        };
        if user.status == UserStatus::Suspended {
            return Err(LoginError::Suspended);
        }
        // The password changed (or the account was taken over) while it was being
        // checked: the check no longer stands.
        // (A match implies a hash; an empty one would match no account.)
        let proof = SignInProof::Password(hash.unwrap_or_default());
        let Some(tokens) = self.start_session(&user, meta, proof).await? else {
            metrics::counter!("auth_logins_total", "outcome" => "invalid").increment(1);
            return Err(LoginError::InvalidCredentials);
        };
        metrics::counter!("auth_logins_total", "outcome" => "ok").increment(1);
        Ok(SignedIn { user, tokens })
    }

    /// Spends a refresh token for a new pair.
    ///
    /// # Errors
    /// [`RefreshError`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<SignedIn, RefreshError> {
        let now = self.ports.clock.now();
        let new_token = random_token();
        let rotation = self
            .ports
            .sessions
            .rotate(
                &secret_hash(refresh_token),
                &secret_hash(&new_token),
                now,
                self.config.refresh_grace,
                self.config.session_idle_timeout,
            )
            .await?;
        let session = match rotation {
            Rotation::Rotated(session) | Rotation::WithinGrace(session) => session,
            Rotation::ReuseDetected(session_id) => {
                tracing::warn!(session = %session_id, "refresh token reuse: session revoked");
                metrics::counter!("auth_refresh_reuse_total").increment(1);
                self.forget_sessions(&[session_id]).await;
                return Err(RefreshError::Reused);
            }
            Rotation::Invalid => return Err(RefreshError::Invalid),
        };
        let Some(user) = self.ports.users.find_by_id(session.user_id).await? else {
            return Err(RefreshError::Invalid);
        };
        if user.status == UserStatus::Suspended {
            return Err(RefreshError::Suspended);
        }
        let (access_token, expires_in) = self.ports.tokens.issue(user.id, session.id, user.role, now)?;
        Ok(SignedIn { user, tokens: TokenPair { access_token, refresh_token: new_token, expires_in } })
    }

    /// Ends the session a refresh token belongs to. Unknown tokens are not an error.
    ///
    /// # Errors
    /// Storage failures only.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), InternalError> {
        let now = self.ports.clock.now();
        if let Some(id) = self.ports.sessions.revoke_by_refresh(&secret_hash(refresh_token), now).await? {
            self.forget_sessions(&[id]).await;
        }
        Ok(())
    }

    /// Moves the sessions' cached states to a new version, so every node reads the
    /// revocation on its next request, including a node that was just caching the
    /// old state (it stores it under the old version, which nobody reads).
    async fn forget_sessions(&self, ids: &[SessionId]) {
        if ids.is_empty() {
            return;
        }
        let scopes: Vec<String> = ids.iter().map(|id| session_cache_key(*id)).collect();
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        self.reads.invalidate(&refs).await;
    }

    /// Checks an access token and, through the cache, that its session is alive and
    /// its user active, so a revocation takes effect on the next request.
    ///
    /// # Errors
    /// [`AuthenticateError`].
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let claims = self.verify_access_token(access_token)?;
        self.authenticate_claims(&claims).await
    }

    /// Checks an access token's signature, algorithm, issuer, audience and expiry,
    /// without the session lookup: enough for a rate-limit key, never for access.
    ///
    /// # Errors
    /// [`AuthenticateError::Expired`] or [`AuthenticateError::Invalid`].
    pub fn verify_access_token(&self, access_token: &str) -> Result<AccessClaims, AuthenticateError> {
        self.ports.tokens.verify(access_token).map_err(|err| match err {
            TokenError::Expired => AuthenticateError::Expired,
            TokenError::Invalid => AuthenticateError::Invalid,
        })
    }

    /// The second half of [`AuthService::authenticate`], for claims already
    /// verified: the session must be alive and its user active (through the cache).
    ///
    /// # Errors
    /// [`AuthenticateError::Revoked`], or storage failures.
    pub async fn authenticate_claims(&self, claims: &AccessClaims) -> Result<Principal, AuthenticateError> {
        let scope = session_cache_key(claims.session_id);
        let ports = self.ports.clone();
        let idle = self.config.session_idle_timeout;
        let session_id = claims.session_id;
        // The state: `1|user|role|absolute end (unix)` when usable, else `0`.
        let state: String = self
            .reads
            .get(&scope, &scope, self.config.session_cache_ttl, move || async move {
                let now = ports.clock.now();
                let Some(session) = ports.sessions.find(session_id).await? else { return Ok("0".to_owned()) };
                if !session.is_alive(now, idle) {
                    return Ok("0".to_owned());
                }
                Ok(match ports.users.find_by_id(session.user_id).await? {
                    Some(user) if user.status == UserStatus::Active => {
                        format!("1|{}|{}|{}", user.id, user.role.as_str(), session.expires_at.timestamp())
                    }
                    _ => "0".to_owned(),
                })
            })
            .await?;
        match parse_session_state(state.as_bytes(), self.ports.clock.now()) {
            Some((user_id, role)) if user_id == claims.user_id => Ok(Principal { user_id, session_id, role }),
            _ => Err(AuthenticateError::Revoked),
        }
    }

    /// # Errors
    /// Storage failures; a vanished user is reported as revoked.
    pub async fn me(&self, principal: &Principal) -> Result<User, AuthenticateError> {
        self.ports.users.find_by_id(principal.user_id).await?.ok_or(AuthenticateError::Revoked)
    }

    /// # Errors
    /// Storage failures; a vanished user is reported as revoked.
    pub async fn update_name(&self, principal: &Principal, name: &UserName) -> Result<User, AuthenticateError> {
        let now = self.ports.clock.now();
        self.ports.users.update_name(principal.user_id, name, now).await?.ok_or(AuthenticateError::Revoked)
    }

    /// Changes the password and revokes every other session of the user.
    ///
    /// # Errors
    /// [`ChangePasswordError`].
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &Password,
    ) -> Result<(), ChangePasswordError> {
        let Some(hash) = self.ports.users.password_hash(principal.user_id).await? else {
            return Err(ChangePasswordError::NoPassword);
        };
        if !self.ports.hasher.verify(current, Some(&hash)).await? {
            return Err(ChangePasswordError::WrongPassword);
        }
        let new_hash = self.ports.hasher.hash(new).await?;
        let now = self.ports.clock.now();
        // Only over the password just verified: a takeover (or another change)
        // that landed meanwhile is not undone.
        if !self.ports.users.replace_password_hash(principal.user_id, &hash, &new_hash, now).await? {
            return Err(ChangePasswordError::WrongPassword);
        }
        let revoked = self.ports.sessions.revoke_all(principal.user_id, Some(principal.session_id), now).await?;
        self.forget_sessions(&revoked).await;
        Ok(())
    }

    /// # Errors
    /// Storage failures.
    pub async fn sessions(&self, principal: &Principal) -> Result<Vec<Session>, InternalError> {
        let now = self.ports.clock.now();
        let sessions = self.ports.sessions.list_alive(principal.user_id, now).await?;
        Ok(sessions.into_iter().filter(|s| s.is_alive(now, self.config.session_idle_timeout)).collect())
    }

    /// Revokes one of the caller's sessions; `false` when it has no such session.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn revoke_session(&self, principal: &Principal, id: SessionId) -> Result<bool, InternalError> {
        let now = self.ports.clock.now();
        let revoked = self.ports.sessions.revoke(id, principal.user_id, now).await?;
        if revoked {
            self.forget_sessions(&[id]).await;
        }
        Ok(revoked)
    }

    /// Suspends or reactivates an account. Suspension revokes every session at
    /// once, on every node.
    ///
    /// # Errors
    /// Storage failures; `false` when there is no such user.
    pub async fn set_status(&self, user_id: UserId, status: UserStatus) -> Result<bool, InternalError> {
        let now = self.ports.clock.now();
        if !self.ports.users.set_status(user_id, status, now).await? {
            return Ok(false);
        }
        if status == UserStatus::Suspended {
            let revoked = self.ports.sessions.revoke_all(user_id, None, now).await?;
            self.forget_sessions(&revoked).await;
        }
        Ok(true)
    }

    /// Changes a role; the user's live sessions see it on their next request.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn set_role(&self, user_id: UserId, role: Role) -> Result<(), InternalError> {
        let now = self.ports.clock.now();
        self.ports.users.set_role(user_id, role, now).await?;
        let sessions: Vec<SessionId> =
            self.ports.sessions.list_alive(user_id, now).await?.iter().map(|s| s.id).collect();
        self.forget_sessions(&sessions).await;
        Ok(())
    }

    /// Creates (or promotes) an administrator with a password: the operator's way
    /// to the first admin account (`devora-server create-admin`).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn create_admin(&self, email: Email, password: Password, name: UserName) -> Result<User, InternalError> {
        let now = self.ports.clock.now();
        let hash = self.ports.hasher.hash(&password).await?;
        if let Some(existing) = self.ports.users.find_by_email(&email).await? {
            self.ports.users.set_password_hash(existing.id, Some(&hash), now).await?;
            self.ports.users.mark_email_verified(existing.id, now).await?;
            self.set_role(existing.id, Role::Admin).await?;
            return self
                .ports
                .users
                .find_by_id(existing.id)
                .await?
                .ok_or_else(|| StorageError::new("user vanished").into());
        }
        let created = self
            .ports
            .users
            .create(NewUser {
                id: UserId::new(),
                email,
                name,
                password_hash: Some(hash),
                role: Role::Admin,
                email_verified: true,
                now,
            })
            .await;
        match created {
            Ok(user) => Ok(user),
            Err(CreateUserError::DuplicateEmail) => Err(StorageError::new("created concurrently; run again").into()),
            Err(CreateUserError::Storage(err)) => Err(err.into()),
        }
    }

    /// The configured sign-in providers.
    #[must_use]
    pub fn providers(&self) -> Vec<IdentityProviderId> {
        self.providers.values().map(|p| p.id()).collect()
    }

    fn provider(&self, name: &str) -> Option<&Arc<dyn IdentityProvider>> {
        self.providers.get(name)
    }

    fn callback_uri(&self, provider: IdentityProviderId) -> String {
        format!("{}/api/v2/auth/oauth/{}/callback", self.config.public_url, provider.as_str())
    }

    /// `redirect_to` resolved against the web app and checked against the allow-list.
    fn allowed_redirect(&self, redirect_to: Option<&str>) -> Option<String> {
        if redirect_to.is_some_and(|r| r.len() > 2000) {
            return None;
        }
        let base = url::Url::parse(&self.config.frontend_url).ok()?;
        let target = match redirect_to.map(str::trim).filter(|r| !r.is_empty()) {
            None => base.join("/auth/callback").ok()?,
            // Relative to the web app; `//evil.example` would be scheme-relative, so refuse it.
            Some(r) if r.starts_with('/') && !r.starts_with("//") && !r.contains('\\') => base.join(r).ok()?,
            Some(r) => url::Url::parse(r).ok()?,
        };
        let origin = target.origin().ascii_serialization();
        // The web app's own origin always; the configured ones, compared as parsed origins.
        let allowed_origin = |o: &str| url::Url::parse(o).is_ok_and(|u| u.origin().ascii_serialization() == origin);
        let allowed = matches!(target.scheme(), "http" | "https")
            && target.username().is_empty()
            && target.password().is_none()
            && (base.origin().ascii_serialization() == origin
                || self.config.redirect_origins.iter().any(|o| allowed_origin(o)));
        // Bounded as stored and sent (percent-encoded), not only as submitted.
        allowed.then(|| target.to_string()).filter(|resolved| resolved.len() <= 2000)
    }

    /// Starts a sign-in: keeps state, PKCE verifier and nonce server-side (single
    /// use, `oauth_state_ttl`) and returns the provider's authorization URL.
    ///
    /// # Errors
    /// [`OAuthStartError`].
    pub async fn oauth_authorize(
        &self,
        provider: &str,
        redirect_to: Option<&str>,
        code_challenge: &str,
    ) -> Result<String, OAuthStartError> {
        let provider = self.provider(provider).ok_or(OAuthStartError::UnknownProvider)?.clone();
        let redirect_to = self.allowed_redirect(redirect_to).ok_or(OAuthStartError::RedirectNotAllowed)?;
        if !is_s256_challenge(code_challenge) {
            return Err(OAuthStartError::InvalidChallenge);
        }
        let state = random_token();
        let start = provider.authorize(&state, &self.callback_uri(provider.id())).await.map_err(|err| {
            tracing::warn!(provider = provider.id().as_str(), error = %err, "cannot start sign-in");
            OAuthStartError::Unavailable
        })?;
        let now = self.ports.clock.now();
        let pending = PendingSignIn {
            provider: provider.id(),
            pkce_verifier: start.pkce_verifier,
            nonce: start.nonce,
            redirect_to,
            client_challenge: code_challenge.to_owned(),
            expires_at: plus(now, self.config.oauth_state_ttl),
        };
        self.ports.sign_ins.put_pending(&secret_hash(&state), pending, now).await?;
        Ok(start.url)
    }

    /// Finishes a sign-in at the provider's callback. Always answers with where to
    /// send the browser: the web app with `?code=` (a one-time login code, never
    /// tokens) or `?error=<code>`.
    pub async fn oauth_callback(
        &self,
        provider: &str,
        code: Option<&str>,
        state: Option<&str>,
        provider_error: Option<&str>,
    ) -> String {
        let fallback = self.allowed_redirect(None).unwrap_or_else(|| self.config.frontend_url.clone());
        let Some(state) = state.filter(|s| !s.is_empty() && s.len() <= 256) else {
            return with_query(&fallback, "error", "invalid-state");
        };
        let now = self.ports.clock.now();
        let pending = match self.ports.sign_ins.take_pending(&secret_hash(state), now).await {
            Ok(Some(pending)) => pending,
            Ok(None) => return with_query(&fallback, "error", "invalid-state"),
            Err(err) => {
                tracing::error!(error = %err, "cannot read sign-in state");
                return with_query(&fallback, "error", "internal");
            }
        };
        // The state is spent now, whatever happens next.
        if pending.provider.as_str() != provider {
            return with_query(&pending.redirect_to, "error", "invalid-state");
        }
        if let Some(err) = provider_error {
            let code = if err == "access_denied" { "access-denied" } else { "provider-error" };
            return with_query(&pending.redirect_to, "error", code);
        }
        let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
            return with_query(&pending.redirect_to, "error", "invalid-request");
        };
        match self.sign_in_with_provider(&pending, code).await {
            Ok(login_code) => with_query(&pending.redirect_to, "code", &login_code),
            Err(error) => with_query(&pending.redirect_to, "error", error),
        }
    }

    async fn sign_in_with_provider(&self, pending: &PendingSignIn, code: &str) -> Result<String, &'static str> {
        let Some(provider) = self.provider(pending.provider.as_str()).cloned() else { return Err("invalid-state") };
        let identity = provider
            .identify(code, &pending.pkce_verifier, &pending.nonce, &self.callback_uri(provider.id()))
            .await
            .map_err(|err| {
                tracing::warn!(provider = provider.id().as_str(), error = %err, "sign-in refused");
                match err {
                    IdentityError::Unavailable(_) => "provider-unavailable",
                    IdentityError::Rejected(_) => "identity-rejected",
                    IdentityError::NoEmail => "email-required",
                }
            })?;
        let user = self.account_for(&identity).await?;
        if user.status == UserStatus::Suspended {
            return Err("account-suspended");
        }
        let now = self.ports.clock.now();
        let login_code = random_token();
        self.ports
            .sign_ins
            .put_login_code(
                &secret_hash(&login_code),
                &IssuedLoginCode {
                    user_id: user.id,
                    client_challenge: pending.client_challenge.clone(),
                    provider: identity.provider,
                    subject: identity.subject.clone(),
                },
                plus(now, self.config.login_code_ttl),
                now,
            )
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "cannot store login code");
                "internal"
            })?;
        Ok(login_code)
    }

    /// The account an identity signs in to: its linked user; else the user with the
    /// same email, only if the provider verified it; else a new user.
    async fn account_for(&self, identity: &ExternalIdentity) -> Result<User, &'static str> {
        let internal = |err: StorageError| {
            tracing::error!(error = %err, "sign-in storage failure");
            "internal"
        };
        let now = self.ports.clock.now();
        if let Some(user_id) =
            self.ports.sign_ins.find_identity(identity.provider, &identity.subject).await.map_err(internal)?
        {
            return self.ports.users.find_by_id(user_id).await.map_err(internal)?.ok_or("internal");
        }
        for _ in 0..2 {
            if let Some(existing) = self.ports.users.find_by_email(&identity.email).await.map_err(internal)? {
                if !identity.email_verified {
                    return Err("email-unverified");
                }
                if !existing.email_verified {
                    // Someone registered this address without proving it; the verified
                    // owner now takes the account over, and whoever set that password,
                    // linked another identity or holds a session is shut out. The email
                    // is marked verified only after that, so a takeover cut short is
                    // run again at the next sign-in; the identity is linked last (if
                    // that fails, the next sign-in finds the verified email and links).
                    self.ports.users.set_password_hash(existing.id, None, now).await.map_err(internal)?;
                    self.ports.sign_ins.unlink_other_identities(existing.id, identity).await.map_err(internal)?;
                    // Login codes already issued to those identities die with them.
                    self.ports.sign_ins.forget_login_codes(existing.id).await.map_err(internal)?;
                    let revoked = self.ports.sessions.revoke_all(existing.id, None, now).await.map_err(internal)?;
                    self.forget_sessions(&revoked).await;
                    self.ports.users.mark_email_verified(existing.id, now).await.map_err(internal)?;
                    self.ports.sign_ins.link_identity(identity, existing.id, now).await.map_err(internal)?;
                } else {
                    self.ports.sign_ins.link_identity(identity, existing.id, now).await.map_err(internal)?;
                }
                if existing.role != Role::Admin && self.role_for(&identity.email, true) == Role::Admin {
                    self.set_role(existing.id, Role::Admin).await.map_err(|e| {
                        tracing::error!(error = %e, "cannot promote admin");
                        "internal"
                    })?;
                }
                return self.ports.users.find_by_id(existing.id).await.map_err(internal)?.ok_or("internal");
            }
            let new_user = NewUser {
                id: UserId::new(),
                email: identity.email.clone(),
                name: identity.name.clone().unwrap_or_else(|| UserName::from_email(&identity.email)),
                password_hash: None,
                role: self.role_for(&identity.email, identity.email_verified),
                email_verified: identity.email_verified,
                now,
            };
            match self.ports.users.create(new_user).await {
                Ok(user) => {
                    self.ports.sign_ins.link_identity(identity, user.id, now).await.map_err(internal)?;
                    return Ok(user);
                }
                // Created concurrently: go round once more and link to it.
                Err(CreateUserError::DuplicateEmail) => {}
                Err(CreateUserError::Storage(err)) => return Err(internal(err)),
            }
        }
        Err("internal")
    }

    /// Trades a one-time login code (from the OAuth callback) for tokens, for the
    /// browser that started the sign-in only: `code_verifier` must be the secret
    /// whose S256 challenge went to `oauth_authorize`. A login code that reached
    /// another browser (a link an attacker sent, to sign the victim in to the
    /// attacker's account) is refused, and spent.
    ///
    /// # Errors
    /// [`ExchangeError`].
    pub async fn oauth_exchange(
        &self,
        code: &str,
        code_verifier: &str,
        meta: &ClientMeta,
    ) -> Result<SignedIn, ExchangeError> {
        if code.is_empty() || code.len() > 256 || !(43..=128).contains(&code_verifier.len()) {
            return Err(ExchangeError::Invalid);
        }
        let now = self.ports.clock.now();
        let issued =
            self.ports.sign_ins.take_login_code(&secret_hash(code), now).await?.ok_or(ExchangeError::Invalid)?;
        if s256(code_verifier) != issued.client_challenge {
            return Err(ExchangeError::Invalid);
        }
        let user = self.ports.users.find_by_id(issued.user_id).await?.ok_or(ExchangeError::Invalid)?;
        if user.status == UserStatus::Suspended {
            return Err(ExchangeError::Suspended);
        }
        // Suspended, deleted, or taken over by its verified owner (which unlinks the
        // identity) while the code was being traded.
        let proof = SignInProof::Identity { provider: issued.provider, subject: issued.subject };
        let tokens = self.start_session(&user, meta, proof).await?.ok_or(ExchangeError::Invalid)?;
        Ok(SignedIn { user, tokens })
    }
}

fn parse_session_state(raw: &[u8], now: DateTime<Utc>) -> Option<(UserId, Role)> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts = text.split('|');
    if parts.next()? != "1" {
        return None;
    }
    let user_id = UserId::parse(parts.next()?)?;
    let role = Role::parse(parts.next()?)?;
    let ends: i64 = parts.next()?.parse().ok()?;
    (now.timestamp() < ends).then_some((user_id, role))
}

fn with_query(base: &str, key: &str, value: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair(key, value);
            url.to_string()
        }
        Err(_) => format!("{base}?{key}={value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_stored_as_hashes() {
        let token = random_token();
        assert_eq!(token.len(), 43, "256 bits, base64url");
        assert_ne!(random_token(), token);
        assert_eq!(secret_hash(&token).len(), 64);
        assert_eq!(secret_hash(&token), secret_hash(&token));
    }

    #[test]
    fn cached_session_states_round_trip_until_the_session_ends() {
        let id = UserId::new();
        let now = Utc::now();
        let ends = now.timestamp() + 60;
        assert_eq!(parse_session_state(format!("1|{id}|admin|{ends}").as_bytes(), now), Some((id, Role::Admin)));
        assert_eq!(parse_session_state(format!("1|{id}|admin|{}", now.timestamp()).as_bytes(), now), None);
        assert_eq!(parse_session_state(b"0", now), None);
        assert_eq!(parse_session_state(b"1|nope|user|9999999999", now), None);
    }

    #[test]
    fn query_values_are_appended_and_escaped() {
        assert_eq!(with_query("http://app.test/cb", "code", "a b"), "http://app.test/cb?code=a+b");
        assert_eq!(with_query("http://app.test/cb?x=1", "error", "e"), "http://app.test/cb?x=1&error=e");
    }
}
