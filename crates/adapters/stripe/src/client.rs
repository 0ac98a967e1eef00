//! One call to the Stripe API: headers, the idempotency key, retries, and the
//! translation of Stripe's errors.

use devora_outbound::OutboundHttp;
use devora_ports::GatewayError;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::form::Form;
use crate::{STRIPE_API_VERSION, StripeConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Stripe's error envelope: `{"error": {"type", "code", "message", ...}}`.
#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// What one try came to.
enum Attempt {
    Answered(Vec<u8>),
    /// Worth another try; what went wrong, for the log and the final error.
    Transient(String),
    Final(GatewayError),
}

pub(crate) struct StripeClient {
    config: StripeConfig,
    http: OutboundHttp,
}

impl StripeClient {
    pub(crate) fn new(config: StripeConfig, http: OutboundHttp) -> Self {
        Self { config, http }
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str, query: &Form) -> Result<T, GatewayError> {
        self.call(Method::Get, path, query, None).await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: &str,
    ) -> Result<T, GatewayError> {
        self.call(Method::Post, path, form, Some(idempotency_key)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, GatewayError> {
        let retry = self.config.retry;
        let mut tries = 0u32;
        loop {
            tries += 1;
            match self.attempt(method, path, params, idempotency_key).await {
                Attempt::Answered(body) => {
                    return serde_json::from_slice(&body).map_err(|e| {
                        GatewayError::Unavailable(format!("stripe {} {path}: unreadable answer: {e}", method.as_str()))
                    });
                }
                Attempt::Transient(detail) if tries <= retry.max_retries => {
                    let wait = retry.delay(tries - 1);
                    tracing::warn!(method = method.as_str(), path, tries, ?wait, %detail, "stripe call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                Attempt::Transient(detail) => {
                    return Err(GatewayError::Unavailable(format!(
                        "stripe {} {path}: {detail} (gave up after {tries} tries)",
                        method.as_str()
                    )));
                }
                Attempt::Final(error) => return Err(error),
            }
        }
    }

    async fn attempt(&self, method: Method, path: &str, params: &Form, idempotency_key: Option<&str>) -> Attempt {
        let url = format!("{}{path}", self.config.api_base);
        let client = self.http.client();
        let request = match method {
            Method::Get if params.is_empty() => client.get(url),
            Method::Get => client.get(format!("{url}?{}", params.encode())),
            Method::Post => client
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(params.encode()),
        };
        let mut request = request
            .bearer_auth(&self.config.secret_key)
            .header("Stripe-Version", STRIPE_API_VERSION)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let transport = |e: reqwest::Error| {
            Attempt::Transient(if e.is_timeout() { format!("timed out: {e}") } else { format!("unreachable: {e}") })
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return transport(e),
        };
        let status = response.status();
        let should_retry = response.headers().get("stripe-should-retry").and_then(|v| match v.as_bytes() {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        });
        let request_id =
            response.headers().get("request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        // A connection dropped mid-answer is a transport failure like any other.
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return transport(e),
        };
        if status.is_success() {
            return Attempt::Answered(body.to_vec());
        }
        let error = error_from(status, &body);
        tracing::debug!(method = method.as_str(), path, %status, request_id, %error, "stripe answered an error");
        if is_retryable(status, should_retry) {
            Attempt::Transient(format!("{status} (request {request_id}): {error}"))
        } else {
            Attempt::Final(error)
        }
    }
}

/// Stripe's own advice wins when it gives one; otherwise conflicts (a
/// concurrent request holding the key or the object), rate limits and server
/// errors are worth another try, and nothing else is.
fn is_retryable(status: StatusCode, should_retry: Option<bool>) -> bool {
    should_retry.unwrap_or(
        status == StatusCode::CONFLICT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
    )
}

fn error_from(status: StatusCode, body: &[u8]) -> GatewayError {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|e| e.error);
    let (kind, code, message) = match parsed {
        Some(ErrorBody { kind, code, message }) => {
            (kind.unwrap_or_else(|| "api_error".to_owned()), code, message.unwrap_or_else(|| status.to_string()))
        }
        None => ("api_error".to_owned(), None, format!("{status} without a Stripe error body")),
    };
    match status.as_u16() {
        404 if code.as_deref() == Some("resource_missing") => GatewayError::NotFound,
        401 | 403 => GatewayError::Unauthorized(message),
        429 => GatewayError::Unavailable(format!("rate limited: {message}")),
        400..=499 => GatewayError::Refused { kind, code, message },
        _ => GatewayError::Unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn conflicts_rate_limits_and_server_errors_are_retried() {
        for code in [409, 429, 500, 502, 503, 504] {
            assert!(is_retryable(status(code), None), "{code}");
        }
        for code in [400, 401, 402, 403, 404] {
            assert!(!is_retryable(status(code), None), "{code}");
        }
    }

    #[test]
    fn stripe_should_retry_overrides_the_status_both_ways() {
        assert!(is_retryable(status(400), Some(true)));
        assert!(!is_retryable(status(500), Some(false)));
        assert!(!is_retryable(status(429), Some(false)));
    }

    #[test]
    fn errors_are_typed_from_the_stripe_error_body() {
        let body = |kind: &str, code: &str| {
            serde_json::json!({ "error": { "type": kind, "code": code, "message": "msg", "param": "x" } }).to_string()
        };
        assert_eq!(
            error_from(status(404), body("invalid_request_error", "resource_missing").as_bytes()),
            GatewayError::NotFound
        );
        assert_eq!(
            error_from(status(400), body("invalid_request_error", "resource_missing").as_bytes()),
            GatewayError::Refused {
                kind: "invalid_request_error".into(),
                code: Some("resource_missing".into()),
                message: "msg".into()
            },
            "a missing object named in the parameters is a refusal, not a 404"
        );
        assert_eq!(
            error_from(status(401), body("invalid_request_error", "").as_bytes()),
            GatewayError::Unauthorized("msg".into())
        );
        assert_eq!(
            error_from(status(403), body("invalid_request_error", "").as_bytes()),
            GatewayError::Unauthorized("msg".into())
        );
        assert_eq!(
            error_from(status(402), body("card_error", "card_declined").as_bytes()),
            GatewayError::Refused {
                kind: "card_error".into(),
                code: Some("card_declined".into()),
                message: "msg".into()
            }
        );
        assert!(matches!(error_from(status(500), body("api_error", "").as_bytes()), GatewayError::Unavailable(_)));
        assert!(matches!(
            error_from(status(429), body("invalid_request_error", "rate_limit").as_bytes()),
            GatewayError::Unavailable(_)
        ));
    }

    #[test]
    fn an_error_without_a_stripe_body_is_still_typed_by_status() {
        assert!(matches!(error_from(status(404), b"<html>"), GatewayError::Refused { code: None, .. }));
        assert!(matches!(error_from(status(502), b""), GatewayError::Unavailable(_)));
        let no_code = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests..."}}"#;
        assert!(matches!(
            error_from(status(400), no_code),
            GatewayError::Refused { kind, code: None, .. } if kind == "idempotency_error"
        ));
    }
}
