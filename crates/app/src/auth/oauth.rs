//! Sign-in with an identity provider: authorize, callback, login-code exchange.

use base64::Engine;
use devora_domain::{ExternalIdentity, Role, User, UserId, UserName, UserStatus};
use devora_ports::{
    CreateUserError, IdentityError, IssuedLoginCode, NewUser, PendingSignIn, SignInProof, StorageError,
};

use sha2::{Digest, Sha256};

use super::redirect::allowed_redirect;
use super::{
    AuthService, ClientMeta, ExchangeError, OAuthStartError, SignInFailure, SignedIn, plus, random_token, secret_hash,
};

/// PKCE's S256 (RFC 7636): base64url, unpadded, of the verifier's SHA-256.
fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// An S256 challenge: 43 base64url characters (a SHA-256 digest).
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Where the callback sends the browser, and what it carries there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackOutcome {
    /// The web app's URL the sign-in was started for (or its default).
    pub redirect_to: String,
    /// A one-time login code to trade for tokens, or why there is none.
    pub result: Result<String, SignInFailure>,
}

impl AuthService {
    /// `redirect_to` under this server's redirect policy.
    fn allowed_redirect(&self, redirect_to: Option<&str>) -> Option<String> {
        allowed_redirect(&self.config.frontend_url, &self.config.redirect_origins, redirect_to)
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
        callback_url: &str,
    ) -> Result<String, OAuthStartError> {
        let provider = self.provider(provider).ok_or(OAuthStartError::UnknownProvider)?.clone();
        let redirect_to = self.allowed_redirect(redirect_to).ok_or(OAuthStartError::RedirectNotAllowed)?;
        if !is_s256_challenge(code_challenge) {
            return Err(OAuthStartError::InvalidChallenge);
        }
        let state = random_token();
        let start = provider.authorize(&state, callback_url).await.map_err(|err| {
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

    /// Finishes a sign-in at the provider's callback (`callback_url`, the same
    /// URL `oauth_authorize` was given). Always answers with where to send the
    /// browser: the web app, with a one-time login code (never tokens) or why
    /// there is none.
    pub async fn oauth_callback(
        &self,
        provider: &str,
        code: Option<&str>,
        state: Option<&str>,
        provider_error: Option<&str>,
        callback_url: &str,
    ) -> CallbackOutcome {
        let fallback = self.allowed_redirect(None).unwrap_or_else(|| self.config.frontend_url.clone());
        let failed =
            |redirect_to: &str, failure| CallbackOutcome { redirect_to: redirect_to.to_owned(), result: Err(failure) };
        let Some(state) = state.filter(|s| !s.is_empty() && s.len() <= 256) else {
            return failed(&fallback, SignInFailure::InvalidState);
        };
        let now = self.ports.clock.now();
        let pending = match self.ports.sign_ins.take_pending(&secret_hash(state), now).await {
            Ok(Some(pending)) => pending,
            Ok(None) => return failed(&fallback, SignInFailure::InvalidState),
            Err(err) => {
                tracing::error!(error = %err, "cannot read sign-in state");
                return failed(&fallback, SignInFailure::Internal);
            }
        };
        // The state is spent now, whatever happens next.
        if pending.provider.as_str() != provider {
            return failed(&pending.redirect_to, SignInFailure::InvalidState);
        }
        if let Some(err) = provider_error {
            let failure =
                if err == "access_denied" { SignInFailure::AccessDenied } else { SignInFailure::ProviderError };
            return failed(&pending.redirect_to, failure);
        }
        let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
            return failed(&pending.redirect_to, SignInFailure::InvalidRequest);
        };
        let result = self.sign_in_with_provider(&pending, code, callback_url).await;
        CallbackOutcome { redirect_to: pending.redirect_to, result }
    }

    async fn sign_in_with_provider(
        &self,
        pending: &PendingSignIn,
        code: &str,
        callback_url: &str,
    ) -> Result<String, SignInFailure> {
        let Some(provider) = self.provider(pending.provider.as_str()).cloned() else {
            return Err(SignInFailure::InvalidState);
        };
        let identity =
            provider.identify(code, &pending.pkce_verifier, &pending.nonce, callback_url).await.map_err(|err| {
                tracing::warn!(provider = provider.id().as_str(), error = %err, "sign-in refused");
                match err {
                    IdentityError::Unavailable(_) => SignInFailure::ProviderUnavailable,
                    IdentityError::Rejected(_) => SignInFailure::IdentityRejected,
                    IdentityError::NoEmail => SignInFailure::EmailRequired,
                }
            })?;
        let user = self.account_for(&identity).await?;
        if user.status == UserStatus::Suspended {
            return Err(SignInFailure::AccountSuspended);
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
                SignInFailure::Internal
            })?;
        Ok(login_code)
    }

    /// The account an identity signs in to: its linked user; else the user with the
    /// same email, only if the provider verified it; else a new user.
    async fn account_for(&self, identity: &ExternalIdentity) -> Result<User, SignInFailure> {
        let internal = |err: StorageError| {
            tracing::error!(error = %err, "sign-in storage failure");
            SignInFailure::Internal
        };
        let now = self.ports.clock.now();
        if let Some(user_id) =
            self.ports.sign_ins.find_identity(identity.provider, &identity.subject).await.map_err(internal)?
        {
            return self.ports.users.find_by_id(user_id).await.map_err(internal)?.ok_or(SignInFailure::Internal);
        }
        for _ in 0..2 {
            if let Some(existing) = self.ports.users.find_by_email(&identity.email).await.map_err(internal)? {
                if !identity.email_verified {
                    return Err(SignInFailure::EmailUnverified);
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
                    self.change_role(existing.id, Role::Admin).await.map_err(|e| {
                        tracing::error!(error = %e, "cannot promote admin");
                        SignInFailure::Internal
                    })?;
                }
                return self
                    .ports
                    .users
                    .find_by_id(existing.id)
                    .await
                    .map_err(internal)?
                    .ok_or(SignInFailure::Internal);
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
        Err(SignInFailure::Internal)
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
