//! Accounts and sign-in: registration, password login, rotating refresh tokens,
//! sessions, and Google/GitHub sign-in ending in a one-time login code.
//!
//! One file per seam: `passwords` (register, log in, change), `sessions` (refresh,
//! authenticate, list, revoke), `oauth` (provider sign-in), `redirect` (where a
//! sign-in may send the browser), `errors`.

mod errors;
mod oauth;
mod passwords;
mod redirect;
mod sessions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use devora_domain::{Email, IdentityProviderId, Role, SessionId, User, UserId};
use devora_ports::{
    AccessTokens, Cache, Clock, IdentityProvider, NewSession, PasswordHasher, SessionRepository, SignInProof,
    SignInStore, UserRepository,
};
use sha2::{Digest, Sha256};

use crate::InternalError;
use crate::read_through::ReadThrough;

pub use errors::{
    AuthenticateError, ChangePasswordError, ExchangeError, LoginError, OAuthStartError, RefreshError, RegisterError,
    SignInFailure,
};
pub use oauth::CallbackOutcome;

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
    pub(crate) ports: AuthPorts,
    reads: ReadThrough,
    providers: BTreeMap<&'static str, Arc<dyn IdentityProvider>>,
    config: Arc<AuthConfig>,
}

/// 256 random bits, URL-safe base64: refresh tokens, OAuth state, login codes.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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
    /// Changes a role and drops the user's cached session states, so their live
    /// sessions see it on their next request.
    pub(crate) async fn change_role(&self, user_id: UserId, role: Role) -> Result<(), InternalError> {
        let now = self.ports.clock.now();
        self.ports.users.set_role(user_id, role, now).await?;
        let sessions: Vec<SessionId> =
            self.ports.sessions.list_alive(user_id, now).await?.iter().map(|s| s.id).collect();
        self.forget_sessions(&sessions).await;
        Ok(())
    }

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

    /// Moves the sessions' cached states to a new version, so every node reads the
    /// revocation on its next request, including a node that was just caching the
    /// old state (it stores it under the old version, which nobody reads).
    pub(crate) async fn forget_sessions(&self, ids: &[SessionId]) {
        if ids.is_empty() {
            return;
        }
        let scopes: Vec<String> = ids.iter().map(|id| session_cache_key(*id)).collect();
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        self.reads.invalidate(&refs).await;
    }

    /// The configured sign-in providers.
    #[must_use]
    pub fn providers(&self) -> Vec<IdentityProviderId> {
        self.providers.values().map(|p| p.id()).collect()
    }

    pub(crate) fn provider(&self, name: &str) -> Option<&Arc<dyn IdentityProvider>> {
        self.providers.get(name)
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
}
