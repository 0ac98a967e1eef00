//! `/api/v2/billing`: plans, the caller's subscription, checkout and portal,
//! invoices; and the operator's reconcile report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// How often a plan is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum BillingIntervalDto {
    Month,
    Year,
}

/// A subscription's state at Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatusDto {
    Active,
    Trialing,
    PastDue,
    Canceled,
    Unpaid,
    Incomplete,
    IncompleteExpired,
    Paused,
}

/// What a plan grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "projects": 50, "generations_per_month": 1000, "tokens_per_month": 20000000,
    "concurrent_jobs": 3, "storage_bytes": 1073741824, "models": ["gpt-4o-mini", "gpt-4o"]
}))]
pub struct PlanLimitsDto {
    pub projects: u32,
    pub generations_per_month: u32,
    pub tokens_per_month: u64,
    pub concurrent_jobs: u32,
    /// Bytes of files in one project.
    pub storage_bytes: u64,
    /// The model ids the plan may use.
    pub models: Vec<String>,
}

/// A plan on offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "pro", "name": "Pro", "intervals": ["month", "year"],
    "limits": {"projects": 50, "generations_per_month": 1000, "tokens_per_month": 20000000,
               "concurrent_jobs": 3, "storage_bytes": 1073741824, "models": ["gpt-4o-mini", "gpt-4o"]}
}))]
pub struct PlanDto {
    /// `free`, `pro`, `team`...
    pub id: String,
    pub name: String,
    /// The intervals it can be bought for (empty for `free`).
    pub intervals: Vec<BillingIntervalDto>,
    pub limits: PlanLimitsDto,
}

/// The plans on offer, under the catalogue's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "version": 1,
    "items": [{"id": "free", "name": "Free", "intervals": [],
               "limits": {"projects": 3, "generations_per_month": 50, "tokens_per_month": 500000,
                          "concurrent_jobs": 1, "storage_bytes": 52428800, "models": ["gpt-4o-mini"]}}]
}))]
pub struct PlanList {
    pub version: u32,
    pub items: Vec<PlanDto>,
}

/// The caller's billing: the plan granted now and the subscription behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "plan_id": "pro", "status": "active", "subscribed_plan_id": "pro", "interval": "month",
    "current_period_end": "2026-12-24T09:31:00Z", "cancel_at_period_end": false,
    "limits": {"projects": 50, "generations_per_month": 1000, "tokens_per_month": 20000000,
               "concurrent_jobs": 3, "storage_bytes": 1073741824, "models": ["gpt-4o-mini", "gpt-4o"]}
}))]
pub struct SubscriptionDto {
    /// The plan granted now: `free` without a subscription that grants one.
    pub plan_id: String,
    /// The subscription's state; `null` for a user who never subscribed.
    #[schema(required = true)]
    pub status: Option<SubscriptionStatusDto>,
    /// The plan subscribed to (it may grant nothing now: canceled, past due too long).
    #[schema(required = true)]
    pub subscribed_plan_id: Option<String>,
    #[schema(required = true)]
    pub interval: Option<BillingIntervalDto>,
    #[schema(required = true)]
    #[ts(type = "string | null")]
    pub current_period_end: Option<DateTime<Utc>>,
    /// The subscription ends at `current_period_end` (until then the plan holds).
    pub cancel_at_period_end: bool,
    /// What the granted plan allows.
    pub limits: PlanLimitsDto,
}

/// `POST /api/v2/billing/checkout`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"plan_id": "pro", "interval": "month"}))]
pub struct CheckoutRequest {
    pub plan_id: String,
    pub interval: BillingIntervalDto,
}

/// Where to send the browser (Stripe Checkout or the customer portal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3"}))]
pub struct RedirectUrl {
    pub url: String,
}

/// An invoice's state at Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatusDto {
    Draft,
    Open,
    Paid,
    Uncollectible,
    Void,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "in_1Q2w3E4r5T6y", "number": "A1B2C3-0001", "amount_due": 2000, "amount_paid": 2000,
    "currency": "usd", "status": "paid", "created_at": "2026-11-24T09:31:00Z",
    "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_1", "pdf_url": "https://pay.stripe.com/invoice/acct_1/test_1/pdf"
}))]
pub struct InvoiceDto {
    pub id: String,
    #[schema(required = true)]
    pub number: Option<String>,
    /// In the currency's smallest unit (cents).
    pub amount_due: i64,
    pub amount_paid: i64,
    /// ISO 4217, lowercase.
    pub currency: String,
    pub status: InvoiceStatusDto,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub hosted_invoice_url: Option<String>,
    #[schema(required = true)]
    pub pdf_url: Option<String>,
}

/// A page of invoices, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"items": [], "next_cursor": null}))]
pub struct InvoicePage {
    pub items: Vec<InvoiceDto>,
    /// Pass as `?cursor=` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// What a reconcile run found and repaired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"checked": 42, "repaired": 1, "failed": 0, "repaired_ids": ["sub_1Q2w3E"], "failed_customers": []}))]
pub struct ReconcileReportDto {
    /// Customers of Devora's users compared with Stripe.
    pub checked: u64,
    pub repaired: u64,
    pub failed: u64,
    /// The subscriptions whose local state was repaired.
    pub repaired_ids: Vec<String>,
    /// The customers that could not be compared or repaired (see the logs).
    pub failed_customers: Vec<String>,
}

/// A webhook delivery was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({"received": true}))]
pub struct WebhookAck {
    pub received: bool,
}
