//! Rate limiting at the route: each scope or resource names its policy where it
//! is declared (`.wrap(limit(PolicyKind::Auth))`); answers carry the IETF
//! `RateLimit-Policy` / `RateLimit` fields, and a refusal is a 429
//! `quota-exceeded` problem with `Retry-After`.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, Route, web};
use devora_api_types::ErrorCode;
use devora_app::read_through::Confirmed;
use devora_app::{PolicyKind, RateLimitPolicy, RateLimitService, Subject};
use devora_domain::UserId;
use devora_ports::{RateLimitDecision, VersionedRead};
use futures_util::future::LocalBoxFuture;

use crate::ApiError;
use crate::auth::VerifiedClaims;
use crate::client_ip::ClientIp;

/// The policy a route is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutePolicy {
    /// One policy whatever the method.
    Fixed(PolicyKind),
    /// `reads` for GET and HEAD, `writes` for the rest.
    ByMethod,
}

impl RoutePolicy {
    #[must_use]
    pub fn kind(self, method: &Method) -> PolicyKind {
        match self {
            Self::Fixed(kind) => kind,
            Self::ByMethod if matches!(*method, Method::GET | Method::HEAD) => PolicyKind::Reads,
            Self::ByMethod => PolicyKind::Writes,
        }
    }
}

/// The cached reads a route's GET will make for the signed-in `user`, for the
/// request gate to confirm with the rate-limit check (one round trip for both).
pub type CachedReads = fn(&HttpRequest, &crate::AppState, UserId) -> Vec<VersionedRead>;

/// Counts the wrapped scope's or resource's requests under `kind`.
#[must_use]
pub fn limit(kind: PolicyKind) -> Limit {
    Limit { policy: RoutePolicy::Fixed(kind), reads: None }
}

/// Counts the wrapped scope's or resource's reads under `reads`, the rest under `writes`.
#[must_use]
pub fn limit_by_method() -> Limit {
    Limit { policy: RoutePolicy::ByMethod, reads: None }
}

/// A handler for paths no route matched, counted under `policy` like a route.
pub fn not_found(policy: RoutePolicy) -> Route {
    web::to(move |req: HttpRequest| async move {
        match admit(&req, policy, None).await {
            Err(refused) => refused,
            Ok((admitted, _)) => with_headers(crate::context::not_found(req).await, admitted.as_ref()),
        }
    })
}

fn seconds_ceil(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Adds `RateLimit-Policy` and `RateLimit` for `decision` under `policy`.
pub fn insert_headers(headers: &mut HeaderMap, policy: &RateLimitPolicy, decision: &RateLimitDecision) {
    let name = policy.name.as_str();
    let policy_value = format!("\"{name}\";q={};w={}", policy.quota.limit(), policy.quota.window().as_secs());
    let limit_value = format!("\"{name}\";r={};t={}", decision.remaining, seconds_ceil(decision.reset_after));
    if let Ok(v) = HeaderValue::from_str(&policy_value) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&limit_value) {
        headers.insert(HeaderName::from_static("ratelimit"), v);
    }
}

/// The 429 problem for a refused request, with `Retry-After` and the rate-limit fields.
#[must_use]
pub fn refusal(policy: &RateLimitPolicy, decision: &RateLimitDecision) -> ApiError {
    let retry = seconds_ceil(decision.retry_after.unwrap_or(Duration::from_secs(1))).max(1);
    let mut err = ApiError::new(
        ErrorCode::QuotaExceeded,
        format!(
            "Rate limit reached for policy \"{}\" ({} requests per {} s). Retry in {retry} s.",
            policy.name,
            policy.quota.limit(),
            policy.quota.window().as_secs()
        ),
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(retry));
    let mut headers = HeaderMap::new();
    insert_headers(&mut headers, policy, decision);
    for (name, value) in headers {
        err = err.with_header(name, value);
    }
    err
}

pub(crate) type Admitted = Option<(RateLimitPolicy, RateLimitDecision)>;

/// Counts the request under `policy`: the decision to report when it may go on
/// (`None` when limiting is off or for CORS-less `OPTIONS`) with the reads the
/// gate confirmed (the session's and the route's `reads`), or the 429 answer.
pub(crate) async fn admit(
    req: &HttpRequest,
    policy: RoutePolicy,
    reads: Option<CachedReads>,
) -> Result<(Admitted, Confirmed), HttpResponse> {
    // OPTIONS is not an API call (preflights are answered by CORS before routing).
    let limiter = req.app_data::<web::Data<RateLimitService>>().filter(|_| req.method() != Method::OPTIONS);
    let Some(limiter) = limiter else { return Ok((None, Confirmed::default())) };
    let ip = ClientIp::of(req).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let state = req.app_data::<web::Data<crate::AppState>>();
    // Per-user policies count by the token's user. The token is verified once,
    // here; the route's extractor reuses the claims and checks only the session.
    let claims = match req.extensions().get::<VerifiedClaims>() {
        Some(verified) => Some(verified.0.clone()),
        None => state.and_then(|state| {
            let token = crate::auth::bearer_token(req.headers())?;
            state.auth.verify_access_token(token).ok()
        }),
    };
    let mut cached = Vec::new();
    if let (Some(claims), Some(state)) = (&claims, state) {
        cached.push(state.auth.session_read(claims));
        if let Some(reads) = reads.filter(|_| matches!(*req.method(), Method::GET | Method::HEAD)) {
            cached.extend(reads(req, state, claims.user_id));
        }
    }
    let user = claims.as_ref().map(|c| c.user_id.to_string());
    if let Some(claims) = claims {
        req.extensions_mut().insert(VerifiedClaims(claims));
    }
    let admission = limiter.admit(policy.kind(req.method()), &Subject { ip, user }, cached).await;
    match admission.limited {
        Some((policy, decision)) if !decision.allowed => Err(refusal(&policy, &decision).response()),
        limited => Ok((limited, admission.confirmed)),
    }
}

pub(crate) fn with_headers(
    mut res: HttpResponse,
    admitted: Option<&(RateLimitPolicy, RateLimitDecision)>,
) -> HttpResponse {
    if let Some((policy, decision)) = admitted {
        insert_headers(res.headers_mut(), policy, decision);
    }
    res
}

/// The middleware [`limit`] and [`limit_by_method`] build.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    policy: RoutePolicy,
    reads: Option<CachedReads>,
}

impl Limit {
    /// Has the gate confirm `reads` with the rate-limit check of every GET.
    #[must_use]
    pub fn reading(self, reads: CachedReads) -> Self {
        Self { reads: Some(reads), ..self }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Limit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = LimitMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(LimitMiddleware { service: Rc::new(service), policy: self.policy, reads: self.reads }))
    }
}

pub struct LimitMiddleware<S> {
    service: Rc<S>,
    policy: RoutePolicy,
    reads: Option<CachedReads>,
}

impl<S, B> Service<ServiceRequest> for LimitMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let (policy, reads) = (self.policy, self.reads);
        Box::pin(async move {
            let (admitted, confirmed) = match admit(req.request(), policy, reads).await {
                Ok(admitted) => admitted,
                Err(refused) => return Ok(req.into_response(refused)),
            };
            let mut res = confirmed.scope(service.call(req)).await?.map_into_boxed_body();
            // A handler that applied a narrower policy (login per IP and email) reports that one.
            if let Some((policy, decision)) = &admitted
                && !res.headers().contains_key("ratelimit-policy")
            {
                insert_headers(res.headers_mut(), policy, decision);
            }
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_by_method_route_counts_reads_and_writes_apart() {
        assert_eq!(RoutePolicy::ByMethod.kind(&Method::GET), PolicyKind::Reads);
        assert_eq!(RoutePolicy::ByMethod.kind(&Method::HEAD), PolicyKind::Reads);
        assert_eq!(RoutePolicy::ByMethod.kind(&Method::PATCH), PolicyKind::Writes);
        assert_eq!(RoutePolicy::Fixed(PolicyKind::Auth).kind(&Method::GET), PolicyKind::Auth);
    }

    #[test]
    fn header_values_follow_the_draft() {
        let policy = RateLimitPolicy::new(
            "public",
            devora_domain::Quota::per_minute(100).unwrap(),
            devora_app::KeyKind::ClientIp,
        )
        .unwrap();
        let decision = RateLimitDecision {
            allowed: true,
            remaining: 99,
            reset_after: Duration::from_millis(600),
            retry_after: None,
        };
        let mut headers = HeaderMap::new();
        insert_headers(&mut headers, &policy, &decision);
        assert_eq!(headers.get("ratelimit-policy").unwrap(), "\"public\";q=100;w=60");
        assert_eq!(headers.get("ratelimit").unwrap(), "\"public\";r=99;t=1");
    }
}
