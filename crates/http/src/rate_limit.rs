//! The rate-limit middleware: every request is counted under the policy of its
//! route group, answers carry the IETF `RateLimit-Policy` / `RateLimit` fields,
//! and a refusal is a 429 `quota-exceeded` problem with `Retry-After`.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use devora_api_types::ErrorCode;
use devora_app::{PolicyKind, RateLimitPolicy, RateLimitService, Subject};
use devora_ports::RateLimitDecision;

use crate::ApiError;
use crate::client_ip::TrustedProxies;

/// The resolved client address, in the request's extensions for handlers
/// (login counts by address and email; sessions record it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

/// Which policy a request falls under. Every path has one: unknown paths count
/// as public.
#[must_use]
pub fn classify(method: &Method, path: &str) -> PolicyKind {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let Some(api) = path.strip_prefix("/api/v2/") else { return PolicyKind::Public };
    if api == "billing/webhooks/stripe" {
        return PolicyKind::Webhook;
    }
    if let Some(auth) = api.strip_prefix("auth/") {
        if auth == "login" {
            return PolicyKind::LoginIp;
        }
        let credential = matches!(auth, "register" | "oauth/exchange" | "me/password")
            || (auth.starts_with("oauth/") && (auth.ends_with("/authorize") || auth.ends_with("/callback")));
        if credential {
            return PolicyKind::Auth;
        }
    }
    if !read && matches!(api, "generation/agentic" | "generation/fullstack") {
        return PolicyKind::Generation;
    }
    if api == "billing/plans" && read {
        return PolicyKind::Public;
    }
    if read { PolicyKind::Reads } else { PolicyKind::Writes }
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

pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let ip = {
        let trusted = req.app_data::<web::Data<TrustedProxies>>();
        let peer = req.peer_addr().map(|a| a.ip());
        trusted.map_or_else(
            || TrustedProxies::default().client_ip(peer, req.headers()),
            |t| t.client_ip(peer, req.headers()),
        )
    };
    req.extensions_mut().insert(ClientIp(ip));
    // CORS preflights are not API calls; counting them would halve every budget.
    let limiter = req.app_data::<web::Data<RateLimitService>>().cloned();
    let Some(limiter) = limiter.filter(|_| req.method() != Method::OPTIONS) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    // Per-user policies count by the token's user. The token is verified once,
    // here; the route's extractor reuses the claims and checks only the session.
    let claims = req.app_data::<web::Data<crate::AppState>>().and_then(|state| {
        let token = crate::auth::bearer_token(req.headers())?;
        state.auth.verify_access_token(token).ok()
    });
    let user = claims.as_ref().map(|c| c.user_id.to_string());
    if let Some(claims) = claims {
        req.extensions_mut().insert(crate::auth::VerifiedClaims(claims));
    }
    // The path as the router sees it (percent-decoded), so `/auth/%6Cogin` is login.
    let kind = classify(req.method(), req.match_info().as_str());
    let Some((policy, decision)) = limiter.check(kind, &Subject { ip, user }).await else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    if !decision.allowed {
        return Ok(req.into_response(refusal(&policy, &decision).response()));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    // A handler that applied a narrower policy (login per IP and email) reports that one.
    if !res.headers().contains_key("ratelimit-policy") {
        insert_headers(res.headers_mut(), &policy, &decision);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_under_their_groups_policy() {
        let cases = [
            (Method::GET, "/api/v2", PolicyKind::Public),
            (Method::GET, "/health/ready", PolicyKind::Public),
            (Method::GET, "/docs/index.html", PolicyKind::Public),
            (Method::POST, "/api/v2/auth/login", PolicyKind::LoginIp),
            (Method::POST, "/api/v2/auth/refresh", PolicyKind::Writes),
            (Method::POST, "/api/v2/auth/register", PolicyKind::Auth),
            (Method::GET, "/api/v2/auth/oauth/github/authorize", PolicyKind::Auth),
            (Method::GET, "/api/v2/auth/me", PolicyKind::Reads),
            (Method::POST, "/api/v2/auth/logout", PolicyKind::Writes),
            (Method::POST, "/api/v2/generation/agentic", PolicyKind::Generation),
            (Method::GET, "/api/v2/generation/jobs", PolicyKind::Reads),
            (Method::PUT, "/api/v2/projects/1/files/a.ts", PolicyKind::Writes),
            (Method::GET, "/api/v2/billing/plans", PolicyKind::Public),
            (Method::POST, "/api/v2/billing/webhooks/stripe", PolicyKind::Webhook),
        ];
        for (method, path, expected) in cases {
            assert_eq!(classify(&method, path), expected, "{method} {path}");
        }
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
