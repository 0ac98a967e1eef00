//! The signed-in caller, as an extractor.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use devora_api_types::ErrorCode;
use devora_app::auth::Principal;
use futures_util::future::LocalBoxFuture;

use crate::{ApiError, AppState};

/// `Authorization: Bearer <token>` → the token.
#[must_use]
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

pub(crate) fn unauthenticated(code: ErrorCode, detail: &str) -> ApiError {
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
        let verified = req.extensions().get::<VerifiedClaims>().map(|v| v.0.clone());
        // Claims verified by the rate-limit middleware came from this request's token.
        let token = if verified.is_some() { None } else { bearer_token(req.headers()).map(str::to_owned) };
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let principal = match (verified, token) {
                (Some(claims), _) => state.auth.authenticate_claims(&claims).await,
                (None, Some(token)) => state.auth.authenticate(&token).await,
                (None, None) => {
                    return Err(unauthenticated(
                        ErrorCode::Unauthenticated,
                        "Send an access token: Authorization: Bearer <token>.",
                    ));
                }
            };
            principal.map(Authenticated).map_err(ApiError::from)
        })
    }
}
