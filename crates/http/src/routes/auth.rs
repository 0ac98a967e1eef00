//! `/api/v2/auth`: accounts, tokens, sessions and OAuth sign-in.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use devora_api_types::{
    AccountStatus, AuthResponse, ChangePasswordRequest, ErrorCode, ExchangeRequest, FieldError, LoginRequest,
    OAuthProviderDto, OAuthProviderList, Problem, RefreshRequest, RegisterRequest, SessionDto, SessionList, TokenPair,
    UpdateMeRequest, UserDto, UserRole,
};
use devora_app::auth::{ClientMeta, SignedIn};
use devora_domain::{Email, Password, Role, SessionId, User, UserName, UserStatus};
use serde::Deserialize;
use utoipa::IntoParams;

use super::resource;
use crate::auth::Authenticated;
use crate::rate_limit::{ClientIp, insert_headers, refusal};
use crate::{ApiError, ApiJson, AppState};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/v2/auth/register", "POST").route(web::post().to(register)))
        .service(resource("/api/v2/auth/login", "POST").route(web::post().to(login)))
        .service(resource("/api/v2/auth/refresh", "POST").route(web::post().to(refresh)))
        .service(resource("/api/v2/auth/logout", "POST").route(web::post().to(logout)))
        .service(resource("/api/v2/auth/me", "GET, PATCH").route(web::get().to(me)).route(web::patch().to(update_me)))
        .service(resource("/api/v2/auth/me/password", "POST").route(web::post().to(change_password)))
        .service(resource("/api/v2/auth/sessions", "GET").route(web::get().to(sessions)))
        .service(resource("/api/v2/auth/sessions/{id}", "DELETE").route(web::delete().to(revoke_session)))
        .service(resource("/api/v2/auth/oauth/providers", "GET").route(web::get().to(providers)))
        .service(resource("/api/v2/auth/oauth/exchange", "POST").route(web::post().to(exchange)))
        .service(resource("/api/v2/auth/oauth/{provider}/authorize", "GET").route(web::get().to(authorize)))
        .service(resource("/api/v2/auth/oauth/{provider}/callback", "GET").route(web::get().to(callback)));
}

pub fn user_dto(user: &User) -> UserDto {
    UserDto {
        id: user.id.as_uuid(),
        email: user.email.as_str().to_owned(),
        name: user.name.as_str().to_owned(),
        role: match user.role {
            Role::User => UserRole::User,
            Role::Admin => UserRole::Admin,
        },
        status: match user.status {
            UserStatus::Active => AccountStatus::Active,
            UserStatus::Suspended => AccountStatus::Suspended,
        },
        email_verified: user.email_verified,
        has_password: user.has_password,
        created_at: user.created_at,
    }
}

fn auth_response(signed_in: SignedIn) -> AuthResponse {
    AuthResponse {
        user: user_dto(&signed_in.user),
        tokens: TokenPair {
            access_token: signed_in.tokens.access_token,
            refresh_token: signed_in.tokens.refresh_token,
            token_type: "Bearer".to_owned(),
            expires_in: signed_in.tokens.expires_in.as_secs(),
        },
    }
}

/// Token responses must never be cached by anything in between.
fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}

fn client_meta(req: &HttpRequest) -> ClientMeta {
    ClientMeta {
        ip: req.extensions().get::<ClientIp>().map(|ip| ip.0.to_string()),
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

fn field_error(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_owned(), code: code.to_owned(), message: message.into() }
}

fn parse_email(raw: &str, errors: &mut Vec<FieldError>) -> Option<Email> {
    Email::parse(raw).map_err(|m| errors.push(field_error("email", "invalid", m))).ok()
}

fn parse_name(raw: &str, errors: &mut Vec<FieldError>) -> Option<UserName> {
    UserName::parse(raw).map_err(|m| errors.push(field_error("name", "invalid", m))).ok()
}

fn parse_password(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Password> {
    Password::parse(raw).map_err(|rule| errors.push(field_error(field, rule.code(), rule.to_string()))).ok()
}

/// Create an account with email and password; signs it in.
#[utoipa::path(
    post, path = "/api/v2/auth/register", tag = "auth", operation_id = "register",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered (`email-taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email, weak password, bad name or unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (`auth` policy)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut errors = Vec::new();
    let email = parse_email(&body.email, &mut errors);
    let password = parse_password("password", &body.password, &mut errors);
    let name = parse_name(&body.name, &mut errors);
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        return Err(ApiError::validation(errors));
    };
    let signed_in = state.auth.register(email, password, name, &client_meta(&req)).await?;
    Ok(no_store(HttpResponse::Created().json(auth_response(signed_in))))
}

/// Sign in with email and password. Unknown emails and wrong passwords get the
/// same answer.
#[utoipa::path(
    post, path = "/api/v2/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (`invalid-credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account suspended", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited (`login` per IP and email, `login-ip` per IP)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let meta = client_meta(&req);
    let policies = state.rate_limits.policies();
    let limit = if policies.enabled {
        let policy = policies.login.clone();
        // The email is hashed so the key stays small whatever was submitted.
        let email_hash = {
            use sha2::Digest;
            hex::encode(&sha2::Sha256::digest(body.email.trim().to_lowercase().as_bytes())[..16])
        };
        // By the address's bucket, as every per-IP key (an IPv6 client has a /64).
        let ip = req.extensions().get::<ClientIp>().map_or_else(|| "-".to_owned(), |ip| devora_app::ip_bucket(ip.0));
        let key = format!("ip:{ip}|email:{email_hash}");
        let decision = state.rate_limits.check_key(&policy, &key).await;
        if !decision.allowed {
            return Err(refusal(&policy, &decision));
        }
        Some((policy, decision))
    } else {
        None
    };
    let signed_in = state.auth.login(&body.email, &body.password, &meta).await?;
    let mut res = no_store(HttpResponse::Ok().json(auth_response(signed_in)));
    if let Some((policy, decision)) = limit {
        insert_headers(res.headers_mut(), &policy, &decision);
    }
    Ok(res)
}

/// Trade a refresh token for a new pair. The presented token is spent; presenting
/// it again after a short grace revokes its session.
#[utoipa::path(
    post, path = "/api/v2/auth/refresh", tag = "auth", operation_id = "refresh",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`refresh-token-invalid` or `refresh-token-reused`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account suspended", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let signed_in = state.auth.refresh(&body.refresh_token).await?;
    Ok(no_store(HttpResponse::Ok().json(auth_response(signed_in))))
}

/// End the session a refresh token belongs to. Unknown tokens are accepted too.
#[utoipa::path(
    post, path = "/api/v2/auth/logout", tag = "auth", operation_id = "logout",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    state.auth.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/v2/auth/me", tag = "auth", operation_id = "get_me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = UserDto),
        (status = 401, description = "No valid access token, or its session ended", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<UserDto>, ApiError> {
    let user = state.auth.me(&caller.0).await?;
    Ok(web::Json(user_dto(&user)))
}

/// Update the signed-in user's profile.
#[utoipa::path(
    patch, path = "/api/v2/auth/me", tag = "auth", operation_id = "update_me", security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The updated user", body = UserDto),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or unknown field (`role` cannot be set here)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_me(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ApiJson<UpdateMeRequest>,
) -> Result<web::Json<UserDto>, ApiError> {
    let user = match &body.name {
        Some(raw) => {
            let mut errors = Vec::new();
            let Some(name) = parse_name(raw, &mut errors) else { return Err(ApiError::validation(errors)) };
            state.auth.update_name(&caller.0, &name).await?
        }
        None => state.auth.me(&caller.0).await?,
    };
    Ok(web::Json(user_dto(&user)))
}

/// Change the password; every other session of the user is revoked.
#[utoipa::path(
    post, path = "/api/v2/auth/me/password", tag = "auth", operation_id = "change_password", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; other sessions revoked"),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The account has no password (OAuth only)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Current password incorrect, or new password too weak", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let Some(new) = parse_password("new_password", &body.new_password, &mut errors) else {
        return Err(ApiError::validation(errors));
    };
    state.auth.change_password(&caller.0, &body.current_password, &new).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The user's active sessions, newest first.
#[utoipa::path(
    get, path = "/api/v2/auth/sessions", tag = "auth", operation_id = "list_sessions", security(("bearer" = [])),
    responses(
        (status = 200, description = "Active sessions", body = SessionList),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sessions(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<SessionList>, ApiError> {
    let sessions = state.auth.sessions(&caller.0).await?;
    let items = sessions
        .into_iter()
        .map(|s| SessionDto {
            id: s.id.as_uuid(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            current: s.id == caller.0.session_id,
            user_agent: s.user_agent,
            ip: s.ip,
        })
        .collect();
    Ok(web::Json(SessionList { items, next_cursor: None }))
}

/// Revoke one of the user's sessions (its tokens stop working at once).
#[utoipa::path(
    delete, path = "/api/v2/auth/sessions/{id}", tag = "auth", operation_id = "revoke_session", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session of this user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_session(
    state: web::Data<AppState>,
    caller: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "No such session.");
    let id = SessionId::parse(&path).ok_or_else(not_found)?;
    if !state.auth.revoke_session(&caller.0, id).await? {
        return Err(not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

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
            id: p.as_str().to_owned(),
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
            "not-allowed",
            "only S256 is accepted",
        )]));
    }
    let challenge = query.code_challenge.as_deref().unwrap_or_default();
    let url = state.auth.oauth_authorize(&provider, query.redirect_to.as_deref(), challenge).await?;
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
/// one-time login code for `POST /oauth/exchange`) or `?error=<code>`.
#[utoipa::path(
    get, path = "/api/v2/auth/oauth/{provider}/callback", tag = "auth", operation_id = "oauth_callback",
    params(("provider" = String, Path, description = "`google` or `github`", example = "github"), CallbackQuery),
    responses(
        (status = 302, description = "To the web app, with `code` or `error`", headers(("Location" = String, description = "`redirect_to` with `?code=` or `?error=`"))),
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
    let to = state.auth.oauth_callback(&provider, first("code"), first("state"), first("error")).await;
    Ok(no_store(HttpResponse::Found().insert_header((header::LOCATION, to)).finish()))
}

/// Trade the one-time login code from the OAuth callback for tokens.
#[utoipa::path(
    post, path = "/api/v2/auth/oauth/exchange", tag = "auth", operation_id = "oauth_exchange",
    request_body = ExchangeRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Code unknown, used or expired (`login-code-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Account suspended", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown field", body = Problem, content_type = "application/problem+json"),
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
