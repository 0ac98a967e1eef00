//! RFC 9457 problem details, the body of every error response.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// Base of every problem `type` URI; the code is appended.
pub const PROBLEM_TYPE_BASE: &str = "https://devora.dev/problems/";

/// A stable, machine-readable error code. Clients switch on this, never on
/// `title` or `detail`, which are for people and may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The request could not be read: malformed JSON, a bad header or query.
    MalformedRequest,
    /// The request was well-formed but broke a rule; see `errors`.
    ValidationFailed,
    /// No valid credentials were presented.
    Unauthenticated,
    /// The credentials are valid but do not allow this.
    Forbidden,
    /// Nothing is here, or it is not yours.
    NotFound,
    /// The resource exists but not with this method.
    MethodNotAllowed,
    /// The resource is in a state that conflicts with the request.
    Conflict,
    /// The body is larger than this route accepts.
    PayloadTooLarge,
    /// The body's `Content-Type` is not one this route accepts.
    UnsupportedMediaType,
    /// A rate limit was reached; see `Retry-After`.
    QuotaExceeded,
    /// The plan does not allow more of this.
    PlanLimit,
    /// A feature needs configuration this server lacks.
    NotConfigured,
    /// A dependency (the database) is unavailable; try again later.
    ServiceUnavailable,
    /// An unexpected error; quote the `request_id` when reporting it.
    Internal,
    /// Wrong email or password (the two are not told apart).
    InvalidCredentials,
    /// An account with this email exists.
    EmailTaken,
    /// The access token has expired: refresh it.
    TokenExpired,
    /// The session was revoked (sign-out, password change, suspension): sign in again.
    SessionRevoked,
    /// The refresh token is unknown, expired or its session ended.
    RefreshTokenInvalid,
    /// A spent refresh token was presented again; its session is now revoked.
    RefreshTokenReused,
    /// The account is suspended.
    AccountSuspended,
    /// The OAuth login code is unknown, used or expired.
    LoginCodeInvalid,
    /// The sign-in or payment provider could not be reached.
    ProviderUnavailable,
    /// A webhook delivery whose signature does not verify (or is too old).
    WebhookSignatureInvalid,
    /// The project's files would exceed its storage limit.
    ProjectStorageFull,
    /// The project has its maximum number of files.
    TooManyFiles,
    /// This `Idempotency-Key` was used with a different request.
    IdempotencyKeyReused,
    /// A request with this `Idempotency-Key` is still being processed.
    IdempotencyInFlight,
    /// A stream ticket that is unknown, spent, expired or for another job.
    TicketInvalid,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::MalformedRequest => 400,
            Self::Unauthenticated
            | Self::InvalidCredentials
            | Self::TokenExpired
            | Self::SessionRevoked
            | Self::RefreshTokenInvalid
            | Self::RefreshTokenReused
            | Self::LoginCodeInvalid
            | Self::TicketInvalid => 401,
            Self::ProjectStorageFull => 413,
            Self::WebhookSignatureInvalid => 400,
            Self::TooManyFiles | Self::IdempotencyKeyReused => 422,
            Self::IdempotencyInFlight => 409,
            Self::Forbidden | Self::PlanLimit | Self::AccountSuspended => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict | Self::EmailTaken => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::ValidationFailed => 422,
            Self::QuotaExceeded => 429,
            Self::Internal => 500,
            Self::NotConfigured | Self::ServiceUnavailable | Self::ProviderUnavailable => 503,
        }
    }

    /// The problem's short human summary, the same for every occurrence.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::MalformedRequest => "Malformed request",
            Self::ValidationFailed => "Validation failed",
            Self::Unauthenticated => "Authentication required",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::QuotaExceeded => "Quota exceeded",
            Self::PlanLimit => "Plan limit reached",
            Self::NotConfigured => "Feature not configured",
            Self::ServiceUnavailable => "Service unavailable",
            Self::Internal => "Internal server error",
            Self::InvalidCredentials => "Invalid credentials",
            Self::EmailTaken => "Email already registered",
            Self::TokenExpired => "Access token expired",
            Self::SessionRevoked => "Session revoked",
            Self::RefreshTokenInvalid => "Refresh token invalid",
            Self::RefreshTokenReused => "Refresh token reused",
            Self::AccountSuspended => "Account suspended",
            Self::LoginCodeInvalid => "Login code invalid",
            Self::ProviderUnavailable => "Provider unavailable",
            Self::WebhookSignatureInvalid => "Webhook signature invalid",
            Self::ProjectStorageFull => "Project storage full",
            Self::TooManyFiles => "Too many files",
            Self::IdempotencyKeyReused => "Idempotency key reused",
            Self::IdempotencyInFlight => "Request in progress",
            Self::TicketInvalid => "Stream ticket invalid",
        }
    }

    /// The code as it appears on the wire and in the problem `type`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed-request",
            Self::ValidationFailed => "validation-failed",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::QuotaExceeded => "quota-exceeded",
            Self::PlanLimit => "plan-limit",
            Self::NotConfigured => "not-configured",
            Self::ServiceUnavailable => "service-unavailable",
            Self::Internal => "internal",
            Self::InvalidCredentials => "invalid-credentials",
            Self::EmailTaken => "email-taken",
            Self::TokenExpired => "token-expired",
            Self::SessionRevoked => "session-revoked",
            Self::RefreshTokenInvalid => "refresh-token-invalid",
            Self::RefreshTokenReused => "refresh-token-reused",
            Self::AccountSuspended => "account-suspended",
            Self::LoginCodeInvalid => "login-code-invalid",
            Self::ProviderUnavailable => "provider-unavailable",
            Self::WebhookSignatureInvalid => "webhook-signature-invalid",
            Self::ProjectStorageFull => "project-storage-full",
            Self::TooManyFiles => "too-many-files",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::IdempotencyInFlight => "idempotency-in-flight",
            Self::TicketInvalid => "ticket-invalid",
        }
    }

    /// The problem `type` URI for this code.
    #[must_use]
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.as_str())
    }
}

/// The rule a field broke: the `code` of a `FieldError`. Clients switch on
/// this; the `message` beside it is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "kebab-case")]
pub enum FieldErrorCode {
    /// Missing or empty.
    Required,
    /// Not of the expected form or type.
    Invalid,
    /// A field this request does not take.
    UnknownField,
    /// The body is JSON but not an object.
    NotAnObject,
    TooShort,
    TooLong,
    /// A password among the most common ones.
    TooCommon,
    /// A file path nested deeper than 16 directories.
    TooDeep,
    /// A file path that starts with `/`.
    Absolute,
    /// A file path with `\` as separator.
    Backslash,
    /// Control or invisible characters.
    ControlCharacter,
    /// A file path with `.` or `..` segments.
    DotSegment,
    /// A number outside its range (`limit`).
    OutOfRange,
    /// A value this server does not accept here (`redirect_to`, a message's `role`).
    NotAllowed,
    /// A password that does not match the account's.
    Incorrect,
}

impl FieldErrorCode {
    /// The wire form (`too-long`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Invalid => "invalid",
            Self::UnknownField => "unknown-field",
            Self::NotAnObject => "not-an-object",
            Self::TooShort => "too-short",
            Self::TooLong => "too-long",
            Self::TooCommon => "too-common",
            Self::TooDeep => "too-deep",
            Self::Absolute => "absolute",
            Self::Backslash => "backslash",
            Self::ControlCharacter => "control-character",
            Self::DotSegment => "dot-segment",
            Self::OutOfRange => "out-of-range",
            Self::NotAllowed => "not-allowed",
            Self::Incorrect => "incorrect",
        }
    }
}

/// One broken rule in a request body or query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct FieldError {
    /// The field's name as sent (`email`, `items[2].path`); empty for the body as a whole.
    pub field: String,
    /// The rule it broke.
    pub code: FieldErrorCode,
    /// A human explanation.
    pub message: String,
}

/// An RFC 9457 problem: the body of every 4xx and 5xx response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "type": "https://devora.dev/problems/not-found",
    "title": "Not found",
    "status": 404,
    "detail": "No route matches GET /api/v2/nope.",
    "instance": "/api/v2/nope",
    "code": "not-found",
    "request_id": "01JD3Q8Z6V9K2M4N5P7R8S9T0V"
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `https://devora.dev/problems/<code>`.
    #[serde(rename = "type")]
    #[ts(rename = "type")]
    pub type_uri: String,
    pub title: String,
    /// The HTTP status code, repeated for convenience.
    pub status: u16,
    /// What went wrong with this request, for people.
    pub detail: String,
    /// The path of the request that failed.
    pub instance: String,
    pub code: ErrorCode,
    /// The request's id (also in `X-Request-Id`); quote it when reporting a problem.
    pub request_id: String,
    /// Present on validation failures: each broken rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = Vec<FieldError>, required = false)]
    pub errors: Option<Vec<FieldError>>,
    /// Present on `plan-limit`: what the caller's plan allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = u64, required = false, minimum = 0)]
    pub limit: Option<u64>,
    /// Present on `plan-limit`: how many the caller has now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = u64, required = false, minimum = 0)]
    pub current: Option<u64>,
    /// Present on a `plan-limit` of a monthly quota (generations, tokens): what
    /// was used of it this period (the same figure as `current`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = u64, required = false, minimum = 0)]
    pub used: Option<u64>,
    /// Present on a `plan-limit` of a monthly quota: when it resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, format = DateTime, required = false)]
    pub resets_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Present on a `plan-limit`: which limit (`projects`, `generations`, `tokens`, `concurrent_jobs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    #[schema(value_type = String, required = false)]
    pub limit_name: Option<String>,
}

impl Problem {
    #[must_use]
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            type_uri: code.type_uri(),
            title: code.title().to_owned(),
            status: code.status(),
            detail: detail.into(),
            instance: String::new(),
            code,
            request_id: String::new(),
            errors: None,
            limit: None,
            current: None,
            used: None,
            resets_at: None,
            limit_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_code_matches_serde_name() {
        for code in [
            ErrorCode::MalformedRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::QuotaExceeded,
            ErrorCode::PlanLimit,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::Internal,
            ErrorCode::InvalidCredentials,
            ErrorCode::RefreshTokenReused,
            ErrorCode::ProviderUnavailable,
            ErrorCode::WebhookSignatureInvalid,
            ErrorCode::ProjectStorageFull,
            ErrorCode::IdempotencyInFlight,
        ] {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
        }
    }

    #[test]
    fn field_codes_match_their_serde_names() {
        use FieldErrorCode as F;
        for code in [
            F::Required,
            F::Invalid,
            F::UnknownField,
            F::NotAnObject,
            F::TooShort,
            F::TooLong,
            F::TooCommon,
            F::TooDeep,
            F::Absolute,
            F::Backslash,
            F::ControlCharacter,
            F::DotSegment,
            F::OutOfRange,
            F::NotAllowed,
            F::Incorrect,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::String(code.as_str().to_owned()));
        }
    }

    #[test]
    fn problem_serialises_type_and_omits_empty_errors() {
        let p = Problem::new(ErrorCode::NotFound, "nothing");
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"], "https://devora.dev/problems/not-found");
        assert_eq!(json["status"], 404);
        assert!(json.get("errors").is_none());
    }
}
