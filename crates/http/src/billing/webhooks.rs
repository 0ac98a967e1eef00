//! Stripe's webhook: the signature is checked on the raw body before anything
//! else, and only a delivery that verifies counts against the `webhook` policy,
//! so a flood of forgeries cannot starve Stripe's own deliveries.

use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{Problem, WebhookAck};
use devora_app::PolicyKind;

use crate::rate_limit::{RoutePolicy, admit, with_headers};
use crate::{ApiError, AppState};

/// Receives a Stripe event. Unauthenticated: the `Stripe-Signature` header is
/// verified on the raw body (HMAC-SHA256, 300 s tolerance, rotated secrets).
#[utoipa::path(
    post, path = "/api/v2/billing/webhooks/stripe", tag = "billing", operation_id = "stripe_webhook",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256 of \"t.body\">`")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event, as Stripe sends it",
        example = json!({"id": "evt_1Q2w3E4r", "object": "event", "type": "customer.subscription.updated", "created": 1764000000,
                         "data": {"object": {"id": "sub_1Q2w3E", "object": "subscription", "customer": "cus_Q2w3E4"}}})),
    responses(
        (status = 200, description = "Received (applied, already applied, or not a type Devora acts on)", body = WebhookAck),
        (status = 400, description = "The signature does not verify (`webhook-signature-invalid`); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Webhooks not configured (`not-configured`), Stripe unreachable (`provider-unavailable`) or the database unavailable: nothing was recorded, Stripe retries", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn stripe(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let signature = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    // Verify first; a forgery is refused without touching the budget or the store.
    let verified = state.billing.verify_webhook(signature, &body).map_err(ApiError::from)?;
    let (admitted, _) = match admit(&req, RoutePolicy::Fixed(PolicyKind::Webhook), None).await {
        Ok(admitted) => admitted,
        Err(refused) => return Ok(refused),
    };
    let outcome = state.billing.apply_event(&verified).await.map_err(ApiError::from)?;
    tracing::debug!(event = %verified.id, ?outcome, "stripe webhook");
    Ok(with_headers(HttpResponse::Ok().json(WebhookAck { received: true }), admitted.as_ref()))
}
