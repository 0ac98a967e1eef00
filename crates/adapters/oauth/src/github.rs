use async_trait::async_trait;
use devora_domain::{Email, ExternalIdentity, IdentityProviderId, UserName};
use devora_ports::{AuthorizationRedirect, IdentityError, IdentityProvider};
use openidconnect::{Nonce, PkceCodeChallenge};
use serde::Deserialize;

use devora_outbound::OutboundHttp;

#[derive(Debug, Clone)]
pub struct GitHubConfig {
    pub client_id: String,
    pub client_secret: String,
    /// `https://github.com`: `/login/oauth/authorize` and `/login/oauth/access_token`.
    pub oauth_base: String,
    /// `https://api.github.com`: `/user` and `/user/emails`.
    pub api_base: String,
}

/// GitHub sign-in: OAuth2 authorization code (with PKCE), then the account from
/// `GET /user` and its primary verified email from `GET /user/emails`.
pub struct GitHubProvider {
    config: GitHubConfig,
    http: OutboundHttp,
}

impl GitHubProvider {
    #[must_use]
    pub fn new(config: GitHubConfig, http: OutboundHttp) -> Self {
        Self { config, http }
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

fn unavailable(what: &str, err: impl std::fmt::Display) -> IdentityError {
    IdentityError::Unavailable(format!("github {what}: {err}"))
}

#[async_trait]
impl IdentityProvider for GitHubProvider {
    fn id(&self) -> IdentityProviderId {
        IdentityProviderId::GitHub
    }

    async fn authorize(&self, state: &str, redirect_uri: &str) -> Result<AuthorizationRedirect, IdentityError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut url = url::Url::parse(&format!("{}/login/oauth/authorize", self.config.oauth_base))
            .map_err(|e| unavailable("authorize URL", e))?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "read:user user:email")
            .append_pair("state", state)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "true");
        // GitHub has no ID token, so no nonce to check; one is kept anyway for a uniform record.
        Ok(AuthorizationRedirect {
            url: url.to_string(),
            pkce_verifier: verifier.into_secret(),
            nonce: Nonce::new_random().secret().clone(),
        })
    }

    async fn identify(
        &self,
        code: &str,
        pkce_verifier: &str,
        _nonce: &str,
        redirect_uri: &str,
    ) -> Result<ExternalIdentity, IdentityError> {
        let client = self.http.client();
        let answer: TokenAnswer = client
            .post(format!("{}/login/oauth/access_token", self.config.oauth_base))
            .header("accept", "application/json")
            .form(&[
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.as_str()),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", pkce_verifier),
            ])
            .send()
            .await
            .map_err(|e| unavailable("token endpoint", e))?
            .error_for_status()
            .map_err(|e| unavailable("token endpoint", e))?
            .json()
            .await
            .map_err(|e| unavailable("token answer", e))?;
        // GitHub answers 200 with an `error` field for a bad code.
        let token = match (answer.access_token, answer.error) {
            (Some(token), None) => token,
            (_, error) => {
                let detail = answer.error_description.or(error).unwrap_or_else(|| "no access token".to_owned());
                return Err(IdentityError::Rejected(format!("github token endpoint: {detail}")));
            }
        };
        let get = |path: &str| {
            client
                .get(format!("{}{path}", self.config.api_base))
                .bearer_auth(&token)
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28")
        };
        let user: GitHubUser = get("/user")
            .send()
            .await
            .map_err(|e| unavailable("/user", e))?
            .error_for_status()
            .map_err(|e| IdentityError::Rejected(format!("github /user: {e}")))?
            .json()
            .await
            .map_err(|e| unavailable("/user answer", e))?;
        let emails: Vec<GitHubEmail> = get("/user/emails")
            .send()
            .await
            .map_err(|e| unavailable("/user/emails", e))?
            .error_for_status()
            .map_err(|e| IdentityError::Rejected(format!("github /user/emails: {e}")))?
            .json()
            .await
            .map_err(|e| unavailable("/user/emails answer", e))?;
        let primary = emails.into_iter().find(|e| e.primary && e.verified).ok_or(IdentityError::NoEmail)?;
        let email = Email::parse(&primary.email).map_err(|_| IdentityError::NoEmail)?;
        let name =
            user.name.as_deref().and_then(|n| UserName::parse(n).ok()).or_else(|| UserName::parse(&user.login).ok());
        Ok(ExternalIdentity {
            provider: IdentityProviderId::GitHub,
            subject: user.id.to_string(),
            email,
            email_verified: true,
            name,
        })
    }
}
