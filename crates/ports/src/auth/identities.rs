//! Identity providers (Google or any OIDC issuer, GitHub).

use async_trait::async_trait;
use devora_domain::{ExternalIdentity, IdentityProviderId};

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
