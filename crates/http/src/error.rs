//! `ApiError`: every failure a handler returns, rendered once as problem+json.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use devora_api_types::{ErrorCode, FieldError, Problem};

use crate::context::{self, PROBLEM_JSON};

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a 503 `not-configured` asks clients to wait, in seconds.
const NOT_CONFIGURED_RETRY_AFTER_SECS: &str = "3600";

/// What a 503 for an unavailable database asks clients to wait, in seconds.
const UNAVAILABLE_RETRY_AFTER_SECS: &str = "2";

/// What a `plan-limit` states: the limit and the caller's count, and for a
/// generation quota its name and reset time.
struct PlanLimit {
    limit: u64,
    current: u64,
    quota: Option<(&'static str, Option<chrono::DateTime<chrono::Utc>>)>,
}

/// An error on its way to the client: a stable code, a human detail, and for a
/// 500 the internal cause, which is logged with the request id and never sent.
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    errors: Option<Vec<FieldError>>,
    /// A `plan-limit`'s figures (boxed: rare, and the error stays small).
    limit: Option<Box<PlanLimit>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    cause: Option<Cause>,
}

impl ApiError {
    #[must_use]
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), errors: None, limit: None, headers: Vec::new(), cause: None }
    }

    /// A 500: the client learns only that something failed and the request id.
    /// When the cause is the database being unavailable (unreachable, pool
    /// exhausted, busy), a 503 `service-unavailable` with `Retry-After` instead:
    /// not a bug to report, a moment to wait.
    #[must_use]
    pub fn internal(cause: impl Into<Cause>) -> Self {
        let cause = cause.into();
        let mut err = if devora_ports::StorageError::is_unavailable_in(cause.as_ref()) {
            Self::new(ErrorCode::ServiceUnavailable, "The database is unavailable. Retry shortly.")
                .with_header(header::RETRY_AFTER, HeaderValue::from_static(UNAVAILABLE_RETRY_AFTER_SECS))
        } else {
            Self::new(ErrorCode::Internal, "An unexpected error occurred. Quote the request_id when reporting it.")
        };
        err.cause = Some(cause);
        err
    }

    /// A 422 listing each broken rule.
    #[must_use]
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] if one.field.is_empty() => one.message.clone(),
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid.", many.len()),
        };
        let mut err = Self::new(ErrorCode::ValidationFailed, detail);
        err.errors = Some(errors);
        err
    }

    /// A `plan-limit` stating the plan's limit and the caller's current count.
    #[must_use]
    pub fn plan_limit(detail: impl Into<String>, limit: u64, current: u64) -> Self {
        let mut err = Self::new(ErrorCode::PlanLimit, detail);
        err.limit = Some(Box::new(PlanLimit { limit, current, quota: None }));
        err
    }

    /// A `plan-limit` of a generation quota: which one, its limit, what was used
    /// and when it resets (none for concurrent jobs, which free up as jobs end).
    #[must_use]
    pub fn quota_limit(
        detail: impl Into<String>,
        name: &'static str,
        limit: u64,
        used: u64,
        resets_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        let mut err = Self::new(ErrorCode::PlanLimit, detail);
        err.limit = Some(Box::new(PlanLimit { limit, current: used, quota: Some((name, resets_at)) }));
        err
    }

    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Renders the problem for the current request (id and path from the request context).
    #[must_use]
    pub fn response(&self) -> HttpResponse {
        let ctx = context::current();
        let request_id = ctx.as_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        match &self.cause {
            Some(cause) if self.code == ErrorCode::ServiceUnavailable => {
                tracing::warn!(request_id = %request_id, error = %ErrorChain(cause.as_ref()), "storage unavailable");
            }
            Some(cause) => {
                tracing::error!(request_id = %request_id, error = %ErrorChain(cause.as_ref()), "internal error");
            }
            None => {}
        }
        let mut problem = Problem::new(self.code, self.detail.clone());
        problem.instance = ctx.map(|c| c.path).unwrap_or_default();
        problem.request_id = request_id;
        problem.errors.clone_from(&self.errors);
        if let Some(figures) = &self.limit {
            problem.limit = Some(figures.limit);
            problem.current = Some(figures.current);
            if let Some((name, resets_at)) = figures.quota {
                problem.used = Some(figures.current);
                problem.limit_name = Some(name.to_owned());
                problem.resets_at = resets_at;
            }
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        for (name, value) in &self.headers {
            res.insert_header((name.clone(), value.clone()));
        }
        res.body(serde_json::to_vec(&problem).unwrap_or_default())
    }
}

/// `error: outer: inner: root` for logs.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError").field("code", &self.code).field("detail", &self.detail).finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

impl From<devora_app::InternalError> for ApiError {
    fn from(err: devora_app::InternalError) -> Self {
        Self::internal(err)
    }
}

/// One broken rule of a request, for a 422 `validation-failed` problem.
pub fn field_error(field: &str, code: devora_api_types::FieldErrorCode, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_owned(), code, message: message.into() }
}

/// A domain refusal (`Email::parse`, `FilePath::parse`...) as the field error of `field`.
pub fn invalid_field(field: &str, invalid: impl Into<devora_domain::Invalid>) -> FieldError {
    use devora_api_types::FieldErrorCode as Code;
    use devora_domain::Violation;
    let invalid = invalid.into();
    let code = match invalid.violation() {
        Violation::Required => Code::Required,
        Violation::Invalid => Code::Invalid,
        Violation::TooShort => Code::TooShort,
        Violation::TooLong => Code::TooLong,
        Violation::TooCommon => Code::TooCommon,
        Violation::TooDeep => Code::TooDeep,
        Violation::Absolute => Code::Absolute,
        Violation::Backslash => Code::Backslash,
        Violation::ControlCharacter => Code::ControlCharacter,
        Violation::DotSegment => Code::DotSegment,
    };
    field_error(field, code, invalid.message())
}

impl From<devora_app::NotConfigured> for ApiError {
    fn from(err: devora_app::NotConfigured) -> Self {
        // Configuration does not appear by itself: ask clients to come back much later.
        Self::new(
            ErrorCode::NotConfigured,
            format!("{} is not configured on this server; its operator sets {}.", err.feature, err.variable),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static(NOT_CONFIGURED_RETRY_AFTER_SECS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_without_configuration_is_a_503_naming_the_variable() {
        let err = ApiError::from(devora_app::NotConfigured { feature: "Billing", variable: "STRIPE_SECRET_KEY" });
        let res = err.response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.code, ErrorCode::NotConfigured);
        assert!(err.detail.contains("STRIPE_SECRET_KEY"), "{}", err.detail);
    }

    #[test]
    fn every_domain_rule_reaches_the_wire_under_its_own_code() {
        use devora_domain::{Invalid, Violation as V};
        let all = [
            V::Required,
            V::Invalid,
            V::TooShort,
            V::TooLong,
            V::TooCommon,
            V::TooDeep,
            V::Absolute,
            V::Backslash,
            V::ControlCharacter,
            V::DotSegment,
        ];
        for violation in all {
            let field = invalid_field("f", Invalid::new(violation, "is wrong"));
            assert_eq!(field.code.as_str(), violation.code(), "{violation:?}");
        }
    }

    #[test]
    fn a_domain_refusal_keeps_its_rule_as_the_field_code() {
        use devora_api_types::FieldErrorCode;
        let dots = invalid_field("path", devora_domain::FilePath::parse("a/../b").unwrap_err());
        assert_eq!((dots.field.as_str(), dots.code), ("path", FieldErrorCode::DotSegment));
        let short = invalid_field("password", devora_domain::Password::parse("short").unwrap_err());
        assert_eq!((short.code, short.message.as_str()), (FieldErrorCode::TooShort, "must be at least 8 characters"));
        let email = invalid_field("email", devora_domain::Email::parse("nope").unwrap_err());
        assert_eq!(email.code, FieldErrorCode::Invalid);
    }
}
