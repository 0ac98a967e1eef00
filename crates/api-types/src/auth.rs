//! Accounts and sign-in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/v2/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace"}))]
pub struct RegisterRequest {
    /// Normalised to lower case; unique.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8..128 characters, not among common passwords.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// 1..100 characters once surrounding spaces are trimmed; no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F](?:[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    pub name: String,
}

/// `POST /api/v2/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// `POST /api/v2/auth/refresh` and `/logout`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "ruCFQ5txFE3ASRhXaRxS7RLEC1FrszQw9gO3OEw2E_Y"}))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `PATCH /api/v2/auth/me`: fields left out are unchanged.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada King"}))]
pub struct UpdateMeRequest {
    /// 1..100 characters once surrounding spaces are trimmed; no control characters.
    /// `null` leaves it unchanged, like leaving it out.
    #[serde(default)]
    #[ts(optional = nullable)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F](?:[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    pub name: Option<String>,
}

/// `POST /api/v2/auth/me/password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "correct horse battery staple", "new_password": "a longer and newer passphrase"}))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8..128 characters, not among common passwords.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// `POST /api/v2/auth/oauth/exchange`: the one-time code from the OAuth callback redirect.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "kQ3pX8vJ2mN7rT1yW5zB9cF4hL6sD0gA-uE_iO3xY2w",
    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
}))]
pub struct ExchangeRequest {
    /// The `?code=` the callback sent the browser back with.
    pub code: String,
    /// The secret whose S256 challenge went to `/oauth/{provider}/authorize`
    /// (43..128 characters): only the browser that started the sign-in has it.
    #[schema(min_length = 43, max_length = 128)]
    pub code_verifier: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    User,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Suspended,
}

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "role": "user",
    "status": "active",
    "email_verified": false,
    "has_password": true,
    "created_at": "2026-11-24T09:30:00.123456Z"
}))]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: UserRole,
    pub status: AccountStatus,
    /// Whether the email was proven (by a provider that vouches for it).
    pub email_verified: bool,
    /// Whether the account can sign in with a password (OAuth-only accounts cannot).
    pub has_password: bool,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
}

/// An access token (JWT, 15 minutes) and its refresh token (opaque, single use).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTkzYTFjMi03ZDNlLTdhMTAtOWIyYy00ZjVlNmE3YjhjOWQifQ.c2lnbmF0dXJl",
    "refresh_token": "ruCFQ5txFE3ASRhXaRxS7RLEC1FrszQw9gO3OEw2E_Y",
    "token_type": "Bearer",
    "expires_in": 900
}))]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
}

/// A signed-in user and their tokens.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "user": {
        "id": "0193a1c2-7d3e-7a10-9b2c-4f5e6a7b8c9d",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "role": "user",
        "status": "active",
        "email_verified": false,
        "has_password": true,
        "created_at": "2026-11-24T09:30:00.123456Z"
    },
    "tokens": {
        "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTkzYTFjMi03ZDNlLTdhMTAtOWIyYy00ZjVlNmE3YjhjOWQifQ.c2lnbmF0dXJl",
        "refresh_token": "ruCFQ5txFE3ASRhXaRxS7RLEC1FrszQw9gO3OEw2E_Y",
        "token_type": "Bearer",
        "expires_in": 900
    }
}))]
pub struct AuthResponse {
    pub user: UserDto,
    pub tokens: TokenPair,
}

/// One sign-in on one device.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "0193a1c2-7d40-7b22-8c3d-5e6f7a8b9c0d",
    "created_at": "2026-11-24T09:30:00.123456Z",
    "last_used_at": "2026-11-24T10:05:12.000001Z",
    "expires_at": "2026-12-24T09:30:00.123456Z",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "ip": "203.0.113.7",
    "current": true
}))]
pub struct SessionDto {
    pub id: Uuid,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    /// Last token refresh.
    #[ts(type = "string")]
    pub last_used_at: DateTime<Utc>,
    #[ts(type = "string")]
    pub expires_at: DateTime<Utc>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    #[schema(required = true)]
    pub ip: Option<String>,
    /// The session of the token making this request.
    pub current: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{
        "id": "0193a1c2-7d40-7b22-8c3d-5e6f7a8b9c0d",
        "created_at": "2026-11-24T09:30:00.123456Z",
        "last_used_at": "2026-11-24T10:05:12.000001Z",
        "expires_at": "2026-12-24T09:30:00.123456Z",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "ip": "203.0.113.7",
        "current": true
    }],
    "next_cursor": null
}))]
pub struct SessionList {
    pub items: Vec<SessionDto>,
    /// Always null: a user's sessions fit in one page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A sign-in provider this API knows (whether this server is configured for it
/// is what `GET /auth/oauth/providers` tells).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum OAuthProviderId {
    Google,
    Github,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "github",
    "name": "GitHub",
    "authorize_url": "http://localhost:8080/api/v2/auth/oauth/github/authorize"
}))]
pub struct OAuthProviderDto {
    pub id: OAuthProviderId,
    pub name: String,
    /// Send the browser here (add `?redirect_to=` for where to come back).
    pub authorize_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [
        {"id": "google", "name": "Google", "authorize_url": "http://localhost:8080/api/v2/auth/oauth/google/authorize"},
        {"id": "github", "name": "GitHub", "authorize_url": "http://localhost:8080/api/v2/auth/oauth/github/authorize"}
    ]
}))]
pub struct OAuthProviderList {
    pub items: Vec<OAuthProviderDto>,
}

/// Why a provider sign-in ended without a login code: the `error` the OAuth
/// callback puts on the web app's URL (`/auth/callback?error=email-unverified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "kebab-case")]
pub enum OAuthCallbackError {
    /// The sign-in's state is unknown, used, expired, or belongs to another provider: start again.
    InvalidState,
    /// The person declined at the provider.
    AccessDenied,
    /// The provider reported another error.
    ProviderError,
    /// The provider's redirect carried no usable code.
    InvalidRequest,
    /// The provider could not be reached.
    ProviderUnavailable,
    /// The provider's answer failed verification.
    IdentityRejected,
    /// The provider shares no email address.
    EmailRequired,
    /// The email belongs to an account and the provider has not verified it.
    EmailUnverified,
    /// The account is suspended.
    AccountSuspended,
    /// An unexpected error; try again.
    Internal,
}

impl OAuthCallbackError {
    /// The wire form (`email-unverified`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidState => "invalid-state",
            Self::AccessDenied => "access-denied",
            Self::ProviderError => "provider-error",
            Self::InvalidRequest => "invalid-request",
            Self::ProviderUnavailable => "provider-unavailable",
            Self::IdentityRejected => "identity-rejected",
            Self::EmailRequired => "email-required",
            Self::EmailUnverified => "email-unverified",
            Self::AccountSuspended => "account-suspended",
            Self::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_errors_match_their_serde_names() {
        use OAuthCallbackError as E;
        for code in [
            E::InvalidState,
            E::AccessDenied,
            E::ProviderError,
            E::InvalidRequest,
            E::ProviderUnavailable,
            E::IdentityRejected,
            E::EmailRequired,
            E::EmailUnverified,
            E::AccountSuspended,
            E::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::String(code.as_str().to_owned()));
        }
    }
}
