//! The signed-in caller as an extractor, and the mapping of account errors to problems.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use devora_api_types::ErrorCode;
use devora_app::auth::{
    AuthenticateError, ChangePasswordError, ExchangeError, InternalError, LoginError, OAuthStartError, Principal,
    RefreshError, RegisterError,
};
use futures_util::future::LocalBoxFuture;

use crate::{ApiError, AppState};

/// `Authorization: Bearer <token>` → the token.
#[must_use]
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

fn unauthenticated(code: ErrorCode, detail: &str) -> ApiError {
    ApiError::new(code, detail)
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"devora\""))
}

/// An access token's claims, verified earlier in this request (by the rate-limit
/// middleware), so the extractor does not verify the same token again.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub devora_ports::AccessClaims);

/// The caller, authenticated: a valid access token whose session is alive and
/// whose user is active (checked on every request, through the cache).
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req.headers()).map(str::to_owned);
        let verified = req.extensions().get::<VerifiedClaims>().map(|v| v.0.clone());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let token = token.ok_or_else(|| {
                unauthenticated(ErrorCode::Unauthenticated, "Send an access token: Authorization: Bearer <token>.")
            })?;
            let principal = match verified {
                Some(claims) => state.auth.authenticate_claims(&claims).await,
                None => state.auth.authenticate(&token).await,
            };
            principal.map(Authenticated).map_err(ApiError::from)
        })
    }
}

impl From<InternalError> for ApiError {
    fn from(err: InternalError) -> Self {
        Self::internal(err)
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(err: AuthenticateError) -> Self {
        match err {
            AuthenticateError::Expired => {
                unauthenticated(ErrorCode::TokenExpired, "The access token has expired; refresh it.")
            }
            AuthenticateError::Invalid => unauthenticated(ErrorCode::Unauthenticated, "The access token is not valid."),
            AuthenticateError::Revoked => {
                unauthenticated(ErrorCode::SessionRevoked, "This session has ended; sign in again.")
            }
            AuthenticateError::Internal(err) => Self::internal(err),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> Self {
        match err {
            RegisterError::EmailTaken => Self::new(ErrorCode::EmailTaken, "An account with this email already exists."),
            RegisterError::Internal(err) => Self::internal(err),
        }
    }
}

/// The one answer for every failed password login, so that unknown emails and
/// wrong passwords cannot be told apart.
pub const INVALID_CREDENTIALS: &str = "The email or password is incorrect.";

impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        match err {
            LoginError::InvalidCredentials => Self::new(ErrorCode::InvalidCredentials, INVALID_CREDENTIALS),
            LoginError::Suspended => Self::new(ErrorCode::AccountSuspended, "This account is suspended."),
            LoginError::Internal(err) => Self::internal(err),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(err: RefreshError) -> Self {
        match err {
            RefreshError::Invalid => {
                Self::new(ErrorCode::RefreshTokenInvalid, "The refresh token is not valid; sign in again.")
            }
            RefreshError::Reused => Self::new(
                ErrorCode::RefreshTokenReused,
                "This refresh token was already used; its session has been revoked. Sign in again.",
            ),
            RefreshError::Suspended => Self::new(ErrorCode::AccountSuspended, "This account is suspended."),
            RefreshError::Internal(err) => Self::internal(err),
        }
    }
}

impl From<ChangePasswordError> for ApiError {
    fn from(err: ChangePasswordError) -> Self {
        match err {
            ChangePasswordError::WrongPassword => Self::validation(vec![devora_api_types::FieldError {
                field: "current_password".into(),
                code: "incorrect".into(),
                message: "is incorrect".into(),
            }]),
            ChangePasswordError::NoPassword => Self::new(
                ErrorCode::Conflict,
                "This account signs in through a provider and has no password to change.",
            ),
            ChangePasswordError::Internal(err) => Self::internal(err),
        }
    }
}

impl From<OAuthStartError> for ApiError {
    fn from(err: OAuthStartError) -> Self {
        match err {
            OAuthStartError::UnknownProvider => {
                Self::new(ErrorCode::NotFound, "No such sign-in provider is configured.")
            }
            OAuthStartError::RedirectNotAllowed => Self::validation(vec![devora_api_types::FieldError {
                field: "redirect_to".into(),
                code: "not-allowed".into(),
                message: "must be a path of the web app or a URL on an allowed origin".into(),
            }]),
            OAuthStartError::InvalidChallenge => Self::validation(vec![devora_api_types::FieldError {
                field: "code_challenge".into(),
                code: "invalid".into(),
                message: "must be the base64url SHA-256 (S256) of the web app's code verifier: 43 characters".into(),
            }]),
            OAuthStartError::Unavailable => {
                Self::new(ErrorCode::ProviderUnavailable, "The sign-in provider cannot be reached; try again later.")
                    .with_header(
                        actix_web::http::header::RETRY_AFTER,
                        actix_web::http::header::HeaderValue::from_static("5"),
                    )
            }
            OAuthStartError::Internal(err) => Self::internal(err),
        }
    }
}

impl From<ExchangeError> for ApiError {
    fn from(err: ExchangeError) -> Self {
        match err {
            ExchangeError::Invalid => {
                Self::new(ErrorCode::LoginCodeInvalid, "The login code is unknown, used or expired.")
            }
            ExchangeError::Suspended => Self::new(ErrorCode::AccountSuspended, "This account is suspended."),
            ExchangeError::Internal(err) => Self::internal(err),
        }
    }
}
