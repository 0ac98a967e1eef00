//! `Idempotency-Key` on creating POSTs, through the app's idempotency service.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use devora_api_types::{ErrorCode, FieldErrorCode};
use devora_app::idempotency::IdempotencyService;
use devora_domain::UserId;
use devora_ports::{CreatedResource, IdempotencyClaim};
use sha2::{Digest, Sha256};

use crate::ApiError;
use crate::error::field_error;

/// A create's answer: `status` (201, or 202 for work accepted) with the resource
/// (and its `Location`, if it has one).
fn respond(status: StatusCode, stored: &CreatedResource, replayed: bool) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.content_type("application/json");
    if let Some(location) = stored.location.as_ref().and_then(|l| HeaderValue::from_str(l).ok()) {
        res.insert_header((header::LOCATION, location));
    }
    if replayed {
        res.insert_header(("idempotent-replayed", "true"));
    }
    res.body(stored.representation.clone())
}

/// Runs `create` (a POST answered 201) once per `Idempotency-Key` (when the request carries one), as
/// its own task, so a client that disconnects mid-request cannot leave the key
/// claimed but never completed or released:
/// replays the stored response for the same request, 422 for another request
/// under the key, 409 while the first is still running. `request` is the parsed
/// body, fingerprinted in canonical form together with the route.
///
/// # Errors
/// The problems above, or `create`'s own.
pub async fn idempotent<T, F, Fut>(
    service: &IdempotencyService,
    req: &HttpRequest,
    user: UserId,
    request: &T,
    create: F,
) -> Result<HttpResponse, ApiError>
where
    T: serde::Serialize,
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<CreatedResource, ApiError>> + 'static,
{
    idempotent_as(StatusCode::CREATED, service, req, user, request, create).await
}

/// [`idempotent`] for a POST answered `status` (202 when it queues work).
///
/// # Errors
/// As [`idempotent`].
pub async fn idempotent_as<T, F, Fut>(
    status: StatusCode,
    service: &IdempotencyService,
    req: &HttpRequest,
    user: UserId,
    request: &T,
    create: F,
) -> Result<HttpResponse, ApiError>
where
    T: serde::Serialize,
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = Result<CreatedResource, ApiError>> + 'static,
{
    let Some(raw) = req.headers().get("idempotency-key") else {
        return create().await.map(|stored| respond(status, &stored, false));
    };
    let key = raw.to_str().ok().filter(|k| IdempotencyService::valid_key(k)).ok_or_else(|| {
        ApiError::validation(vec![field_error(
            "Idempotency-Key",
            FieldErrorCode::Invalid,
            "must be 1..255 visible ASCII characters",
        )])
    })?;
    let canonical = serde_json::to_vec(request).map_err(ApiError::internal)?;
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(req.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&canonical);
    let fingerprint = hex::encode(hasher.finalize());

    match service.claim(user, key, &fingerprint).await? {
        IdempotencyClaim::Completed(stored) => Ok(respond(status, &stored, true)),
        IdempotencyClaim::Mismatch => Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "This Idempotency-Key was already used with a different request.",
        )),
        IdempotencyClaim::InFlight => Err(ApiError::new(
            ErrorCode::IdempotencyInFlight,
            "A request with this Idempotency-Key is still being processed; retry shortly.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))),
        IdempotencyClaim::Claimed(claimed_at) => {
            let service = service.clone();
            let key = key.to_owned();
            let task = actix_web::rt::spawn(async move {
                match create().await {
                    Ok(stored) => {
                        service.complete(user, &key, claimed_at, &stored).await;
                        Ok(stored)
                    }
                    Err(err) => {
                        service.release(user, &key, claimed_at).await;
                        Err(err)
                    }
                }
            });
            let stored = task.await.map_err(ApiError::internal)??;
            Ok(respond(status, &stored, false))
        }
    }
}
