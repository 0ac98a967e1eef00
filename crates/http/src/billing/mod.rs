//! `/api/v2/billing`: plans, the caller's subscription, Stripe Checkout and
//! portal, invoices, and Stripe's webhook. Routes and their policies in
//! [`scope`]; handlers in `subscriptions` and `webhooks`; every billing error's
//! answer in `errors`.

mod errors;
pub(crate) mod subscriptions;
pub(crate) mod webhooks;

use actix_web::dev::HttpServiceFactory;
use actix_web::web;
use devora_api_types::{
    BillingIntervalDto, InvoiceDto, InvoiceStatusDto, PlanDto, PlanLimitsDto, SubscriptionDto, SubscriptionStatusDto,
};
use devora_app::PolicyKind;
use devora_app::billing::SubscriptionView;
use devora_domain::{BillingInterval, Catalog, Limits, Plan, SubscriptionStatus};
use devora_ports::ProviderInvoice;

use crate::rate_limit::{RoutePolicy, limit, limit_by_method, not_found};
use crate::routes::resource;

/// The routes under `/api/v2/billing`. The webhook has no route policy: it
/// counts only deliveries whose signature verifies, under `webhook`.
pub fn scope() -> impl HttpServiceFactory {
    web::scope("/billing")
        .service(resource("/plans", "GET").route(web::get().to(subscriptions::plans)).wrap(limit(PolicyKind::Public)))
        .service(
            resource("/subscription", "GET").route(web::get().to(subscriptions::subscription)).wrap(limit_by_method()),
        )
        .service(
            resource("/subscription/sync", "POST").route(web::post().to(subscriptions::sync)).wrap(limit_by_method()),
        )
        .service(
            resource("/subscription/cancel", "POST")
                .route(web::post().to(subscriptions::cancel))
                .wrap(limit_by_method()),
        )
        .service(
            resource("/subscription/resume", "POST")
                .route(web::post().to(subscriptions::resume))
                .wrap(limit_by_method()),
        )
        .service(resource("/checkout", "POST").route(web::post().to(subscriptions::checkout)).wrap(limit_by_method()))
        .service(resource("/portal", "POST").route(web::post().to(subscriptions::portal)).wrap(limit_by_method()))
        .service(resource("/invoices", "GET").route(web::get().to(subscriptions::invoices)).wrap(limit_by_method()))
        .service(resource("/webhooks/stripe", "POST").route(web::post().to(webhooks::stripe)))
        .default_service(not_found(RoutePolicy::ByMethod))
}

pub(crate) fn interval_dto(interval: BillingInterval) -> BillingIntervalDto {
    match interval {
        BillingInterval::Month => BillingIntervalDto::Month,
        BillingInterval::Year => BillingIntervalDto::Year,
    }
}

pub(crate) fn interval(dto: BillingIntervalDto) -> BillingInterval {
    match dto {
        BillingIntervalDto::Month => BillingInterval::Month,
        BillingIntervalDto::Year => BillingInterval::Year,
    }
}

fn status_dto(status: SubscriptionStatus) -> SubscriptionStatusDto {
    match status {
        SubscriptionStatus::Active => SubscriptionStatusDto::Active,
        SubscriptionStatus::Trialing => SubscriptionStatusDto::Trialing,
        SubscriptionStatus::PastDue => SubscriptionStatusDto::PastDue,
        SubscriptionStatus::Canceled => SubscriptionStatusDto::Canceled,
        SubscriptionStatus::Unpaid => SubscriptionStatusDto::Unpaid,
        SubscriptionStatus::Incomplete => SubscriptionStatusDto::Incomplete,
        SubscriptionStatus::IncompleteExpired => SubscriptionStatusDto::IncompleteExpired,
        SubscriptionStatus::Paused => SubscriptionStatusDto::Paused,
    }
}

pub(crate) fn limits_dto(limits: &Limits) -> PlanLimitsDto {
    PlanLimitsDto {
        projects: limits.projects,
        generations_per_month: limits.generations_per_month,
        tokens_per_month: limits.tokens_per_month,
        concurrent_jobs: limits.concurrent_jobs,
        storage_bytes: limits.storage_bytes,
        models: limits.models.clone(),
    }
}

pub(crate) fn plan_dto(plan: &Plan) -> PlanDto {
    let intervals = [BillingInterval::Month, BillingInterval::Year]
        .into_iter()
        .filter(|i| plan.price(*i).is_some())
        .map(interval_dto)
        .collect();
    PlanDto { id: plan.id.to_string(), name: plan.name.clone(), intervals, limits: limits_dto(&plan.limits) }
}

pub(crate) fn subscription_dto(catalog: &Catalog, view: &SubscriptionView) -> SubscriptionDto {
    let granted = catalog.plan(&view.plan).unwrap_or_else(|| catalog.free());
    let sub = view.subscription.as_ref();
    SubscriptionDto {
        plan_id: granted.id.to_string(),
        status: sub.map(|s| status_dto(s.status)),
        subscribed_plan_id: sub.map(|s| s.plan.to_string()),
        interval: sub.and_then(|s| s.interval).map(interval_dto),
        current_period_end: sub.map(|s| s.current_period_end),
        cancel_at_period_end: sub.is_some_and(|s| s.cancel_at_period_end),
        limits: limits_dto(&granted.limits),
    }
}

pub(crate) fn invoice_dto(invoice: &ProviderInvoice) -> InvoiceDto {
    InvoiceDto {
        id: invoice.id.clone(),
        number: invoice.number.clone(),
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        currency: invoice.currency.clone(),
        status: match invoice.status.as_str() {
            "draft" => InvoiceStatusDto::Draft,
            "paid" => InvoiceStatusDto::Paid,
            "uncollectible" => InvoiceStatusDto::Uncollectible,
            "void" => InvoiceStatusDto::Void,
            _ => InvoiceStatusDto::Open,
        },
        created_at: invoice.created,
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        pdf_url: invoice.invoice_pdf.clone(),
    }
}
