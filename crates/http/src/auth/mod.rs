//! `/api/v2/auth`: accounts, tokens, sessions and OAuth sign-in. The routes and
//! their rate-limit policies are declared in [`scope`]; the handlers live by seam
//! (`passwords`, `sessions`, `oauth`), the extractor in `principal`, the mapping
//! of every account error to a problem in `errors`.

mod errors;
pub(crate) mod oauth;
pub(crate) mod passwords;
mod principal;
pub(crate) mod sessions;

pub(crate) use principal::unauthenticated;
pub use principal::{Authenticated, VerifiedClaims, bearer_token};

use actix_web::dev::HttpServiceFactory;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{AccountStatus, AuthResponse, FieldError, TokenPair, UserDto, UserRole};
use devora_app::PolicyKind;
use devora_app::auth::{ClientMeta, SignedIn};
use devora_domain::{Email, Password, Role, User, UserName, UserStatus};

use crate::client_ip::ClientIp;
use crate::error::invalid_field;
use crate::rate_limit::{RoutePolicy, limit, limit_by_method, not_found};
use crate::routes::resource;

/// The routes under `/api/v2/auth`, each with the policy it is counted under.
pub fn scope() -> impl HttpServiceFactory {
    use PolicyKind::{Auth, LoginIp};
    web::scope("/auth")
        .service(resource("/register", "POST").route(web::post().to(passwords::register)).wrap(limit(Auth)))
        .service(resource("/login", "POST").route(web::post().to(passwords::login)).wrap(limit(LoginIp)))
        .service(resource("/refresh", "POST").route(web::post().to(sessions::refresh)).wrap(limit_by_method()))
        .service(resource("/logout", "POST").route(web::post().to(sessions::logout)).wrap(limit_by_method()))
        .service(
            resource("/me", "GET, PATCH")
                .route(web::get().to(sessions::me))
                .route(web::patch().to(sessions::update_me))
                .wrap(limit_by_method()),
        )
        .service(resource("/me/password", "POST").route(web::post().to(passwords::change_password)).wrap(limit(Auth)))
        .service(resource("/sessions", "GET").route(web::get().to(sessions::sessions)).wrap(limit_by_method()))
        .service(
            resource("/sessions/{id}", "DELETE")
                .route(web::delete().to(sessions::revoke_session))
                .wrap(limit_by_method()),
        )
        .service(resource("/oauth/providers", "GET").route(web::get().to(oauth::providers)).wrap(limit_by_method()))
        .service(resource("/oauth/exchange", "POST").route(web::post().to(oauth::exchange)).wrap(limit(Auth)))
        .service(
            resource("/oauth/{provider}/authorize", "GET").route(web::get().to(oauth::authorize)).wrap(limit(Auth)),
        )
        .service(resource("/oauth/{provider}/callback", "GET").route(web::get().to(oauth::callback)).wrap(limit(Auth)))
        .default_service(not_found(RoutePolicy::ByMethod))
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

pub(crate) fn auth_response(signed_in: SignedIn) -> AuthResponse {
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
pub(crate) fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}

pub(crate) fn client_meta(req: &HttpRequest) -> ClientMeta {
    ClientMeta {
        ip: ClientIp::of(req).map(|ip| ip.to_string()),
        user_agent: req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

pub(crate) fn parse_email(raw: &str, errors: &mut Vec<FieldError>) -> Option<Email> {
    Email::parse(raw).map_err(|m| errors.push(invalid_field("email", m))).ok()
}

pub(crate) fn parse_name(raw: &str, errors: &mut Vec<FieldError>) -> Option<UserName> {
    UserName::parse(raw).map_err(|m| errors.push(invalid_field("name", m))).ok()
}

pub(crate) fn parse_password(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Password> {
    Password::parse(raw).map_err(|rule| errors.push(invalid_field(field, rule))).ok()
}
