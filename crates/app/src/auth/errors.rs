//! What each account operation can fail with. `http` maps every variant to a
//! status and a stable code in one place (`http/src/auth/errors.rs`).

use devora_ports::{StorageError, TokenError};

use crate::InternalError;

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email or wrong password: deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account suspended")]
    Suspended,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("refresh token invalid")]
    Invalid,
    /// A spent token was presented again: the session is revoked.
    #[error("refresh token reused; session revoked")]
    Reused,
    #[error("account suspended")]
    Suspended,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    #[error("access token expired")]
    Expired,
    #[error("access token invalid")]
    Invalid,
    /// The token is genuine but its session is revoked or its user suspended.
    #[error("session revoked")]
    Revoked,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("current password is wrong")]
    WrongPassword,
    #[error("this account has no password")]
    NoPassword,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthStartError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("redirect_to is not allowed")]
    RedirectNotAllowed,
    #[error("code_challenge is not an S256 challenge")]
    InvalidChallenge,
    #[error("provider unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("login code invalid, used or expired")]
    Invalid,
    #[error("account suspended")]
    Suspended,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

macro_rules! internal_from {
    ($($err:ty),*) => {$(
        impl From<StorageError> for $err {
            fn from(err: StorageError) -> Self {
                Self::Internal(err.into())
            }
        }
        impl From<devora_ports::HashError> for $err {
            fn from(err: devora_ports::HashError) -> Self {
                Self::Internal(err.into())
            }
        }
        impl From<TokenError> for $err {
            fn from(err: TokenError) -> Self {
                Self::Internal(err.into())
            }
        }
    )*};
}

internal_from!(
    RegisterError,
    LoginError,
    RefreshError,
    AuthenticateError,
    ChangePasswordError,
    OAuthStartError,
    ExchangeError
);

/// Why a provider sign-in ended without a login code. The callback sends the
/// browser back to the web app with this as `?error=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInFailure {
    /// The state is unknown, spent, expired, or was issued for another provider.
    #[error("sign-in state invalid")]
    InvalidState,
    /// The person declined at the provider.
    #[error("access denied at the provider")]
    AccessDenied,
    /// The provider reported another error.
    #[error("the provider reported an error")]
    ProviderError,
    /// The callback carried no usable code.
    #[error("callback without a code")]
    InvalidRequest,
    #[error("provider unavailable")]
    ProviderUnavailable,
    /// The provider's answer failed verification.
    #[error("identity rejected")]
    IdentityRejected,
    /// The provider shares no email address.
    #[error("the provider shares no email address")]
    EmailRequired,
    /// The email belongs to an account and the provider does not vouch for it.
    #[error("the provider has not verified the email")]
    EmailUnverified,
    #[error("account suspended")]
    AccountSuspended,
    /// Storage failed (logged).
    #[error("internal error")]
    Internal,
}
