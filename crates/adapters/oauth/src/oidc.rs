use std::time::{Duration, Instant};

use async_trait::async_trait;
use devora_domain::{Email, ExternalIdentity, IdentityProviderId, UserName};
use devora_ports::{AuthorizationRedirect, IdentityError, IdentityProvider};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SubjectIdentifier, TokenResponse, UserInfoError,
};
use tokio::sync::RwLock;

use devora_outbound::OutboundHttp;

use crate::http::OidcHttp;

#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub provider: IdentityProviderId,
    pub issuer_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// How long discovery metadata (endpoints, JWKS) is reused.
    pub metadata_ttl: Duration,
}

/// A client built from discovery: authorization endpoint set, token and userinfo
/// endpoints as the issuer advertises them.
type DiscoveredClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Sign-in with any OpenID Connect issuer: discovery, authorization code with
/// PKCE (S256) and a nonce, then the ID token's signature (JWKS), `iss`, `aud`,
/// `exp` and `nonce` verified by openidconnect.
pub struct OidcProvider {
    config: OidcConfig,
    issuer: IssuerUrl,
    http: OidcHttp,
    metadata: RwLock<Option<(CoreProviderMetadata, Instant)>>,
}

impl OidcProvider {
    /// # Errors
    /// When the issuer URL is not a URL.
    pub fn new(config: OidcConfig, http: OutboundHttp) -> Result<Self, String> {
        let issuer = IssuerUrl::new(config.issuer_url.clone()).map_err(|e| e.to_string())?;
        Ok(Self { config, issuer, http: OidcHttp(http), metadata: RwLock::new(None) })
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, IdentityError> {
        if let Some((meta, fetched)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < self.config.metadata_ttl
        {
            return Ok(meta.clone());
        }
        let meta = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| IdentityError::Unavailable(format!("discovery failed: {e}")))?;
        *self.metadata.write().await = Some((meta.clone(), Instant::now()));
        Ok(meta)
    }

    /// A client for the discovered issuer, sending the user back to `redirect_uri`.
    async fn client(&self, redirect_uri: &str) -> Result<DiscoveredClient, IdentityError> {
        let meta = self.metadata().await?;
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| IdentityError::Unavailable(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Forgets the metadata so the next sign-in fetches fresh keys (after a
    /// verification failure that may be a key rotation).
    async fn forget_metadata(&self) {
        *self.metadata.write().await = None;
    }
}

/// The claims of the `email` and `profile` scopes Devora uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Profile {
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
}

impl Profile {
    /// The ID token's claims with what UserInfo adds. An address and whether it is
    /// verified are taken together from one source, so one source's verification
    /// never vouches for the other's address: UserInfo's when it has an email,
    /// else the ID token's.
    fn completed_by(self, userinfo: Profile) -> Profile {
        let (email, email_verified) = match userinfo.email {
            Some(email) => (Some(email), userinfo.email_verified),
            None => (self.email, self.email_verified),
        };
        Profile { email, email_verified, name: self.name.or(userinfo.name) }
    }
}

impl OidcProvider {
    /// The UserInfo claims for the ID token's subject; refused when UserInfo
    /// answers for another subject. An issuer without a UserInfo endpoint adds
    /// nothing.
    async fn user_info(
        &self,
        client: &DiscoveredClient,
        access_token: &AccessToken,
        subject: &SubjectIdentifier,
    ) -> Result<Profile, IdentityError> {
        let Ok(request) = client.user_info(access_token.clone(), Some(subject.clone())) else {
            return Ok(Profile::default());
        };
        let claims: CoreUserInfoClaims = request.request_async(&self.http).await.map_err(|err| match err {
            UserInfoError::ClaimsVerification(err) => IdentityError::Rejected(format!("UserInfo: {err}")),
            UserInfoError::Response(status, _, _) if status.is_client_error() => {
                IdentityError::Rejected(format!("UserInfo: the issuer answered {status}"))
            }
            other => IdentityError::Unavailable(format!("UserInfo: {other}")),
        })?;
        Ok(Profile {
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()),
        })
    }
}

#[async_trait]
impl IdentityProvider for OidcProvider {
    fn id(&self) -> IdentityProviderId {
        self.config.provider
    }

    async fn authorize(&self, state: &str, redirect_uri: &str) -> Result<AuthorizationRedirect, IdentityError> {
        let client = self.client(redirect_uri).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let (url, _, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || CsrfToken::new(state), Nonce::new_random)
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizationRedirect {
            url: url.to_string(),
            pkce_verifier: verifier.into_secret(),
            nonce: nonce.secret().clone(),
        })
    }

    async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
        redirect_uri: &str,
    ) -> Result<ExternalIdentity, IdentityError> {
        let client = self.client(redirect_uri).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| IdentityError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(err) => IdentityError::Rejected(format!("token endpoint: {err}")),
                other => IdentityError::Unavailable(format!("token endpoint: {other}")),
            })?;
        let id_token = response.id_token().ok_or_else(|| IdentityError::Rejected("no ID token".to_owned()))?;
        let verifier = client.id_token_verifier();
        let claims = match id_token.claims(&verifier, &Nonce::new(nonce.to_owned())) {
            Ok(claims) => claims,
            Err(err) => {
                self.forget_metadata().await;
                return Err(IdentityError::Rejected(format!("ID token: {err}")));
            }
        };
        let from_id_token = Profile {
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified(),
            name: claims.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()),
        };
        // In the code flow the `email` and `profile` claims may be left to UserInfo
        // (OIDC Core 5.4): ask it when the ID token does not say both.
        let profile = if from_id_token.email.is_some() && from_id_token.email_verified.is_some() {
            from_id_token
        } else {
            let from_userinfo = self.user_info(&client, response.access_token(), claims.subject()).await?;
            from_id_token.completed_by(from_userinfo)
        };
        let email = profile.email.ok_or(IdentityError::NoEmail)?;
        let email = Email::parse(&email).map_err(|_| IdentityError::NoEmail)?;
        Ok(ExternalIdentity {
            provider: self.config.provider,
            subject: claims.subject().as_str().to_owned(),
            email,
            email_verified: profile.email_verified.unwrap_or(false),
            name: profile.name.and_then(|n| UserName::parse(&n).ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(email: Option<&str>, verified: Option<bool>, name: Option<&str>) -> Profile {
        Profile { email: email.map(Into::into), email_verified: verified, name: name.map(Into::into) }
    }

    #[test]
    fn an_address_and_its_verification_come_from_one_source() {
        let id_token = profile(Some("a@example.com"), None, Some("Ada"));
        // UserInfo's address comes with UserInfo's verification.
        let merged = id_token.clone().completed_by(profile(Some("b@example.com"), Some(true), None));
        assert_eq!(merged, profile(Some("b@example.com"), Some(true), Some("Ada")));
        // UserInfo without an address leaves the ID token's, unverified as it said.
        let merged = id_token.completed_by(profile(None, Some(true), Some("Someone")));
        assert_eq!(merged, profile(Some("a@example.com"), None, Some("Ada")));
        // Nothing in the ID token: all from UserInfo.
        let merged = Profile::default().completed_by(profile(Some("c@example.com"), Some(false), Some("C")));
        assert_eq!(merged, profile(Some("c@example.com"), Some(false), Some("C")));
    }
}
