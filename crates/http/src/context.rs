//! The request context middleware, outermost in the stack: request id, problem
//! bodies for every error (actix's own included), security headers, metrics and
//! the access log, in one place so every response gets all of them.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse};
use devora_api_types::{ErrorCode, Problem};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What an error response built deep inside a handler needs to know about its request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub path: String,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The current request's context, when called while serving one.
pub fn current() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// A client-sent id is kept only when it is short and plain, so it is safe in
/// logs and headers; otherwise a fresh UUIDv7 (time-ordered) is used.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let ctx = RequestContext { request_id: request_id(&req), path: req.path().to_owned() };
    req.extensions_mut().insert(ctx.clone());
    let method = req.method().clone();
    let config = req.app_data::<actix_web::web::Data<crate::HttpConfig>>();
    let hsts = config.is_some_and(|cfg| cfg.hsts);
    let access_log = config.map_or(crate::AccessLog::All, |cfg| cfg.access_log);

    // Note: the request must not be cloned before routing (actix needs it unique).
    let outcome = CONTEXT.scope(ctx.clone(), next.call(req)).await;
    let (status, route, result) = match outcome {
        Ok(res) => {
            let mut res = res.map_into_boxed_body();
            if res.status().as_u16() >= 400 && !is_json(res.headers()) {
                res = into_problem(res, &ctx);
            }
            finish_headers(res.headers_mut(), &ctx, hsts);
            let route = res.request().match_pattern().unwrap_or_else(|| "<unmatched>".to_owned());
            (res.status().as_u16(), route, Ok(res))
        }
        // Raised by middleware (CORS, ...) rather than a handler: there is no
        // response to amend, so the error renders itself with our context.
        Err(err) => {
            let status = err.as_response_error().status_code().as_u16();
            let err = ContextualError { status, ctx: ctx.clone(), hsts };
            (status, "<middleware>".to_owned(), Err(err.into()))
        }
    };
    let elapsed = started.elapsed();
    metrics::counter!("http_requests_total", "method" => method.to_string(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.to_string(), "route" => route.clone())
        .record(elapsed.as_secs_f64());
    if !access_log.records(status, elapsed) {
        return result;
    }
    // The path, never the query: queries can carry OAuth codes and state.
    tracing::info!(
        request_id = %ctx.request_id,
        method = %method,
        route = %route,
        path = %ctx.path,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    result
}

fn finish_headers(headers: &mut actix_web::http::header::HeaderMap, ctx: &RequestContext, hsts: bool) {
    if let Ok(value) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    security_headers(headers, &ctx.path, hsts);
}

/// An error from inner middleware, rendered as a problem for its request.
#[derive(Debug)]
struct ContextualError {
    status: u16,
    ctx: RequestContext,
    hsts: bool,
}

impl std::fmt::Display for ContextualError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request {} refused with {}", self.ctx.request_id, self.status)
    }
}

impl actix_web::ResponseError for ContextualError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = code_for(status);
        let detail = match code {
            ErrorCode::Forbidden | ErrorCode::MalformedRequest => {
                "The request was refused before reaching the API (CORS preflight or a malformed header).".to_owned()
            }
            _ => code.title().to_owned() + ".",
        };
        let mut res = HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .body(problem_body(code, status, detail, &self.ctx));
        finish_headers(res.headers_mut(), &self.ctx, self.hsts);
        res
    }
}

/// Problems and deliberate JSON error bodies (the readiness report) are kept;
/// empty and plain-text error bodies (actix's own) are rewritten.
fn is_json(headers: &actix_web::http::header::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v == "application/json" || v.ends_with("+json"))
}

fn code_for(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::QuotaExceeded,
        503 => ErrorCode::ServiceUnavailable,
        s if s >= 500 => ErrorCode::Internal,
        _ => ErrorCode::MalformedRequest,
    }
}

/// The problem document for an error the API did not raise itself, keeping the
/// status it was answered with.
fn problem_body(code: ErrorCode, status: StatusCode, detail: String, ctx: &RequestContext) -> Vec<u8> {
    let mut problem = Problem::new(code, detail);
    problem.status = status.as_u16();
    problem.instance.clone_from(&ctx.path);
    problem.request_id.clone_from(&ctx.request_id);
    serde_json::to_vec(&problem).unwrap_or_default()
}

/// Rewrites an error response that is not yet a problem (actix's 404/405, CORS
/// refusals, ...) as one, keeping its status and headers.
fn into_problem(res: ServiceResponse<BoxBody>, ctx: &RequestContext) -> ServiceResponse<BoxBody> {
    let (req, response) = res.into_parts();
    let status = response.status();
    let code = code_for(status);
    let detail = match code {
        ErrorCode::NotFound => format!("No resource matches {} {}.", req.method(), req.path()),
        ErrorCode::MethodNotAllowed => format!("{} is not allowed on {}.", req.method(), req.path()),
        ErrorCode::Internal | ErrorCode::ServiceUnavailable => code.title().to_owned() + ".",
        _ => status.canonical_reason().unwrap_or("Request refused").to_owned() + ".",
    };
    let mut response = response.set_body(BoxBody::new(problem_body(code, status, detail, ctx)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::CONTENT_ENCODING);
    ServiceResponse::new(req, response)
}

fn security_headers(headers: &mut actix_web::http::header::HeaderMap, path: &str, hsts: bool) {
    let docs = path == "/docs" || path.starts_with("/docs/") || path == "/redoc" || path.starts_with("/redoc/");
    let csp = if docs {
        // The documentation UIs run their own scripts and styles, all served from here.
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; \
         frame-ancestors 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'"
    };
    let set = |headers: &mut actix_web::http::header::HeaderMap, name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CONTENT_SECURITY_POLICY, csp);
    set(headers, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(headers, HeaderName::from_static("cross-origin-resource-policy"), "same-site");
    if hsts {
        set(headers, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains");
    }
}

/// A response for requests no route matches.
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let detail = format!("No resource matches {} {}.", req.method(), req.path());
    crate::ApiError::new(ErrorCode::NotFound, detail).response()
}
