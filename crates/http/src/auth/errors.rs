//! Every account error a client can get, mapped to its status and stable code
//! in one place.

use devora_api_types::{ErrorCode, FieldErrorCode};
use devora_app::auth::{
    AuthenticateError, ChangePasswordError, ExchangeError, LoginError, OAuthStartError, RefreshError, RegisterError,
};

use super::principal::unauthenticated;
use crate::ApiError;
use crate::error::field_error;

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
            ChangePasswordError::WrongPassword => {
                Self::validation(vec![field_error("current_password", FieldErrorCode::Incorrect, "is incorrect")])
            }
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
            OAuthStartError::RedirectNotAllowed => Self::validation(vec![field_error(
                "redirect_to",
                FieldErrorCode::NotAllowed,
                "must be a path of the web app or a URL on an allowed origin",
            )]),
            OAuthStartError::InvalidChallenge => Self::validation(vec![field_error(
                "code_challenge",
                FieldErrorCode::Invalid,
                "must be the base64url SHA-256 (S256) of the web app's code verifier: 43 characters",
            )]),
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
