//! Sign-in with Google or GitHub: providers, authorize, callback, exchange.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{
    AuthResponse, ErrorCode, ExchangeRequest, FieldErrorCode, OAuthCallbackError, OAuthProviderDto, OAuthProviderId,
    OAuthProviderList, Problem,
};
use devora_app::auth::SignInFailure;
use devora_domain::IdentityProviderId;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{auth_response, client_meta, no_store};
use crate::error::field_error;
use crate::{ApiError, ApiJson, AppState};

/// The sign-in providers this server is configured for.
#[utoipa::path(
    get, path = "/api/v2/auth/oauth/providers", tag = "auth", operation_id = "oauth_providers",
    responses(
        (status = 200, description = "Configured providers", body = OAuthProviderList),
    )
)]
pub async fn providers(state: web::Data<AppState>) -> web::Json<OAuthProviderList> {
    let items = state
        .auth
        .providers()
        .into_iter()
        .map(|p| OAuthProviderDto {
            id: match p {
                IdentityProviderId::Google => OAuthProviderId::Google,
                IdentityProviderId::GitHub => OAuthProviderId::Github,
            },
            name: p.display_name().to_owned(),
            authorize_url: format!("/api/v2/auth/oauth/{}/authorize", p.as_str()),
        })
        .collect();
    web::Json(OAuthProviderList { items })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// Where the web app wants the browser back: a path of the web app or a URL on
    /// an allowed origin. Default: the web app's `/auth/callback`.
    pub redirect_to: Option<String>,
    /// The web app's PKCE challenge (RFC 7636, S256): base64url of the SHA-256 of
    /// a secret verifier it keeps (in `sessionStorage`) and sends with the login
    /// code to `/oauth/exchange`. It binds the sign-in to this browser.
    #[param(required = true, pattern = "^[A-Za-z0-9_-]{43}$", example = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")]
    pub code_challenge: Option<String>,
    /// `S256`, the only method accepted (the default).
    #[param(pattern = "^S256$")]
    pub code_challenge_method: Option<String>,
}

/// Start signing in with a provider: redirects the browser to it.
#[utoipa::path(
    get, path = "/api/v2/auth/oauth/{provider}/authorize", tag = "auth", operation_id = "oauth_authorize",
    params(("provider" = String, Path, description = "`google` or `github`", example = "github"), AuthorizeQuery),
    responses(
        (status = 302, description = "To the provider's consent page (state, PKCE and nonce kept server-side)", headers(("Location" = String, description = "The provider's authorization URL"))),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Provider not configured", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`redirect_to` not allowed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider (`provider-unavailable`) or the database (`service-unavailable`) is unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn authorize(
    state: web::Data<AppState>,
    provider: web::Path<String>,
    query: web::Query<AuthorizeQuery>,
) -> Result<HttpResponse, ApiError> {
    if query.code_challenge_method.as_deref().is_some_and(|m| m != "S256") {
        return Err(ApiError::validation(vec![field_error(
            "code_challenge_method",
            FieldErrorCode::NotAllowed,
            "only S256 is accepted",
        )]));
    }
    let challenge = query.code_challenge.as_deref().unwrap_or_default();
    let callback = callback_url(&state.public_url, &provider);
    let url = state.auth.oauth_authorize(&provider, query.redirect_to.as_deref(), challenge, &callback).await?;
    Ok(no_store(HttpResponse::Found().insert_header((header::LOCATION, url)).finish()))
}

/// Documents the callback's query for OpenAPI; the handler reads it leniently.
#[allow(dead_code)]
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user declined.
    pub error: Option<String>,
}

/// The provider's redirect back. Redirects to the web app with `?code=` (a
/// one-time login code for `POST /oauth/exchange`) or `?error=<code>`, one of
/// `OAuthCallbackError`.
#[utoipa::path(
    get, path = "/api/v2/auth/oauth/{provider}/callback", tag = "auth", operation_id = "oauth_callback",
    params(("provider" = String, Path, description = "`google` or `github`", example = "github"), CallbackQuery),
    responses(
        (status = 302, description = "To the web app, with `code` or `error`", headers(("Location" = String, description = "`redirect_to` with `?code=`, or `?error=` and an `OAuthCallbackError`"))),
        (status = 400, description = "Malformed query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Provider not configured", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn callback(
    state: web::Data<AppState>,
    provider: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if !state.auth.providers().iter().any(|p| p.as_str() == provider.as_str()) {
        return Err(ApiError::new(ErrorCode::NotFound, "No such sign-in provider is configured."));
    }
    // Read leniently (first value of each parameter): whatever the provider or a
    // tampered URL sends, the browser is redirected, with `?error=` at worst.
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let callback = callback_url(&state.public_url, &provider);
    let outcome = state.auth.oauth_callback(&provider, first("code"), first("state"), first("error"), &callback).await;
    let to = match &outcome.result {
        Ok(login_code) => with_query(&outcome.redirect_to, "code", login_code),
        Err(failure) => with_query(&outcome.redirect_to, "error", callback_error(*failure).as_str()),
    };
    Ok(no_store(HttpResponse::Found().insert_header((header::LOCATION, to)).finish()))
}

/// Trade the one-time login code from the OAuth callback for tokens.
#[utoipa::path(
    post, path = "/api/v2/auth/oauth/exchange", tag = "auth", operation_id = "oauth_exchange",
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "Code unknown, used or expired (`login-code-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account suspended", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<ExchangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let signed_in = state.auth.oauth_exchange(&body.code, &body.code_verifier, &client_meta(&req)).await?;
    Ok(no_store(HttpResponse::Ok().json(auth_response(signed_in))))
}

/// Where the provider sends the browser back: this route, on the public URL.
fn callback_url(public_url: &str, provider: &str) -> String {
    format!("{public_url}/api/v2/auth/oauth/{provider}/callback")
}

/// The code the web app reads from `?error=`.
fn callback_error(failure: SignInFailure) -> OAuthCallbackError {
    match failure {
        SignInFailure::InvalidState => OAuthCallbackError::InvalidState,
        SignInFailure::AccessDenied => OAuthCallbackError::AccessDenied,
        SignInFailure::ProviderError => OAuthCallbackError::ProviderError,
        SignInFailure::InvalidRequest => OAuthCallbackError::InvalidRequest,
        SignInFailure::ProviderUnavailable => OAuthCallbackError::ProviderUnavailable,
        SignInFailure::IdentityRejected => OAuthCallbackError::IdentityRejected,
        SignInFailure::EmailRequired => OAuthCallbackError::EmailRequired,
        SignInFailure::EmailUnverified => OAuthCallbackError::EmailUnverified,
        SignInFailure::AccountSuspended => OAuthCallbackError::AccountSuspended,
        SignInFailure::Internal => OAuthCallbackError::Internal,
    }
}

/// `base` with `key=value` appended to its query.
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
    fn query_values_are_appended_and_escaped() {
        assert_eq!(with_query("http://app.test/cb", "code", "a b"), "http://app.test/cb?code=a+b");
        assert_eq!(with_query("http://app.test/cb?x=1", "error", "e"), "http://app.test/cb?x=1&error=e");
    }
}
