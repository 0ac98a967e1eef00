//! The caller's plan and subscription: plans on offer, checkout, portal,
//! cancel/resume at period end, sync, invoices.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use devora_api_types::{CheckoutRequest, FieldErrorCode, InvoicePage, PlanList, Problem, RedirectUrl, SubscriptionDto};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{interval, invoice_dto, plan_dto, subscription_dto};
use crate::auth::Authenticated;
use crate::conditional::json_with_etag;
use crate::error::field_error;
use crate::pagination::parse_limit;
use crate::{ApiError, ApiJson, AppState};

/// The plans on offer, with what each grants. Public; revalidate with `ETag`.
#[utoipa::path(
    get, path = "/api/v2/billing/plans", tag = "billing", operation_id = "list_plans",
    responses(
        (status = 200, description = "The plans", body = PlanList),
        (status = 304, description = "Not modified (`If-None-Match`)"),
    )
)]
pub async fn plans(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let catalog = state.billing.catalog();
    let list = PlanList { version: catalog.version(), items: catalog.plans().iter().map(plan_dto).collect() };
    let mut res = json_with_etag(&req, &list)?;
    // The same for everyone and changed only by a deploy: shared caches may keep it.
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    Ok(res)
}

/// The caller's plan now and the subscription behind it, from Devora's state.
#[utoipa::path(
    get, path = "/api/v2/billing/subscription", tag = "billing", operation_id = "get_subscription", security(("bearer" = [])),
    responses((status = 200, description = "The plan granted now and the subscription", body = SubscriptionDto))
)]
pub async fn subscription(
    state: web::Data<AppState>,
    caller: Authenticated,
) -> Result<web::Json<SubscriptionDto>, ApiError> {
    let view = state.billing.subscription(caller.0.user_id).await?;
    Ok(web::Json(subscription_dto(state.billing.catalog(), &view)))
}

/// Fetch the caller's subscription from Stripe now (the checkout success page
/// calls this: the browser is often back before the webhook).
#[utoipa::path(
    post, path = "/api/v2/billing/subscription/sync", tag = "billing", operation_id = "sync_subscription", security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription as Stripe has it now", body = SubscriptionDto),
    )
)]
pub async fn sync(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<SubscriptionDto>, ApiError> {
    let view = state.billing.sync(caller.0.user_id).await?;
    Ok(web::Json(subscription_dto(state.billing.catalog(), &view)))
}

/// Start a subscription: a Stripe Checkout session for a plan and interval.
#[utoipa::path(
    post, path = "/api/v2/billing/checkout", tag = "billing", operation_id = "create_checkout", security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses(
        (status = 200, description = "Send the browser to `url`", body = RedirectUrl),
        (status = 409, description = "Already subscribed: change plans in the portal", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or free plan, or an unknown field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Stripe unreachable (`provider-unavailable`), billing or the plan's price not configured (`not-configured`), or the database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn checkout(
    state: web::Data<AppState>,
    caller: Authenticated,
    body: ApiJson<CheckoutRequest>,
) -> Result<web::Json<RedirectUrl>, ApiError> {
    let body = body.into_inner();
    let url = state.billing.checkout(caller.0.user_id, &body.plan_id, interval(body.interval)).await?;
    Ok(web::Json(RedirectUrl { url }))
}

/// Manage the subscription (plan, payment method, invoices) in Stripe's portal.
#[utoipa::path(
    post, path = "/api/v2/billing/portal", tag = "billing", operation_id = "create_portal", security(("bearer" = [])),
    responses(
        (status = 200, description = "Send the browser to `url`", body = RedirectUrl),
        (status = 409, description = "No billing account yet", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn portal(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<RedirectUrl>, ApiError> {
    let url = state.billing.portal(caller.0.user_id).await?;
    Ok(web::Json(RedirectUrl { url }))
}

/// Cancel at the end of the current period (the plan holds until then).
#[utoipa::path(
    post, path = "/api/v2/billing/subscription/cancel", tag = "billing", operation_id = "cancel_subscription", security(("bearer" = [])),
    responses(
        (status = 200, description = "Set to end at `current_period_end`", body = SubscriptionDto),
        (status = 409, description = "No live subscription", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn cancel(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<SubscriptionDto>, ApiError> {
    let view = state.billing.set_cancel_at_period_end(caller.0.user_id, true).await?;
    Ok(web::Json(subscription_dto(state.billing.catalog(), &view)))
}

/// Undo a pending cancel.
#[utoipa::path(
    post, path = "/api/v2/billing/subscription/resume", tag = "billing", operation_id = "resume_subscription", security(("bearer" = [])),
    responses(
        (status = 200, description = "It renews again", body = SubscriptionDto),
        (status = 409, description = "No live subscription", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resume(state: web::Data<AppState>, caller: Authenticated) -> Result<web::Json<SubscriptionDto>, ApiError> {
    let view = state.billing.set_cancel_at_period_end(caller.0.user_id, false).await?;
    Ok(web::Json(subscription_dto(state.billing.catalog(), &view)))
}

/// `?limit=&cursor=` for invoices; the cursor is the previous page's `next_cursor`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    /// Invoices per page, 1..100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(example = "in_1Q2w3E4r5T6y", pattern = "^in_[A-Za-z0-9]{1,250}$")]
    pub cursor: Option<String>,
}

/// The caller's invoices, newest first.
#[utoipa::path(
    get, path = "/api/v2/billing/invoices", tag = "billing", operation_id = "list_invoices", security(("bearer" = [])),
    params(InvoiceQuery),
    responses(
        (status = 200, description = "A page of invoices", body = InvoicePage),
        (status = 422, description = "Bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn invoices(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<InvoiceQuery>,
) -> Result<web::Json<InvoicePage>, ApiError> {
    let mut errors = Vec::new();
    let limit = parse_limit(query.limit.as_deref(), &mut errors);
    let cursor = query.cursor.as_deref().filter(|c| !c.is_empty());
    let valid_cursor = |c: &str| {
        c.strip_prefix("in_")
            .is_some_and(|rest| (1..=250).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    if cursor.is_some_and(|c| !valid_cursor(c)) {
        errors.push(field_error("cursor", FieldErrorCode::Invalid, "is not a cursor this API issued"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let page = state.billing.invoices(caller.0.user_id, limit, cursor).await?;
    Ok(web::Json(InvoicePage { items: page.items.iter().map(invoice_dto).collect(), next_cursor: page.next }))
}
